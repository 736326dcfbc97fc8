// A small helper process that starts ffprobe/ffmpeg runs for this one.
// Starting a child process forks the caller, and a fork costs time in
// proportion to the caller's memory: from a server holding hundreds of MB it
// blocks the event loop for 5–15 ms per run, so a burst of finished jobs (one
// ffprobe each) would stall API requests and stretch every completion. The
// host is a bare `node -e` script of a few MB, started on first use; it runs
// each tool and sends back what runToolHere would have returned. Deadlines
// and aborts stay here (the host is told to kill the run). When the host is
// gone, runs fall back to this process, and the next run starts a new host.
import { spawn, type ChildProcess } from 'node:child_process';
import { MAX_STDOUT, runToolHere, STDERR_TAIL, type ToolOptions, type ToolRun } from './tools.js';

const CHILD = `
const { spawn } = require('node:child_process');
const runs = new Map();
process.on('disconnect', () => { for (const c of runs.values()) c.kill('SIGKILL'); process.exit(0); });
process.on('message', (m) => {
  if (m.kill !== undefined) { runs.get(m.kill)?.kill('SIGKILL'); return; }
  const { id, bin, args, maxStdout, tail } = m;
  const fail = (e) => process.send({ id, error: { message: e.message, code: e.code } });
  let child;
  try { child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }); } catch (e) { return fail(e); }
  runs.set(id, child);
  let stdout = '', stderr = '', over = false;
  child.stdout.setEncoding('utf8').on('data', (c) => { stdout += c; if (stdout.length > maxStdout) { over = true; child.kill('SIGKILL'); } });
  child.stderr.setEncoding('utf8').on('data', (c) => { stderr = (stderr + c).slice(-tail); });
  child.on('error', (e) => { if (child.pid === undefined) { runs.delete(id); fail(e); } });
  child.on('close', (code) => { runs.delete(id); process.send({ id, code, stdout, stderr, over }); });
});
`;

type Answer = { id: number; error?: { message: string; code?: string }; code?: number | null; stdout?: string; stderr?: string; over?: boolean };

interface Pending {
  bin: string;
  args: string[];
  opts: ToolOptions;
  resolve: (run: ToolRun) => void;
  reject: (err: unknown) => void;
  timedOut: boolean;
}

export class ToolHost {
  private child?: ChildProcess;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  run(bin: string, args: string[], opts: ToolOptions): Promise<ToolRun> {
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
    const child = this.started();
    if (!child) return runToolHere(bin, args, opts);
    const id = ++this.seq;
    return new Promise<ToolRun>((resolve, reject) => {
      const p: Pending = { bin, args, opts, resolve, reject, timedOut: false };
      const timer = setTimeout(() => {
        p.timedOut = true;
        this.kill(id);
      }, opts.timeoutMs);
      const onAbort = () => {
        this.kill(id);
        this.forget(id);
        finish();
        reject(opts.signal!.reason);
      };
      const finish = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      p.resolve = (r) => (finish(), resolve(r));
      p.reject = (e) => (finish(), reject(e));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, p);
      // Referenced while a run is pending (its answer must be heard), never otherwise.
      if (this.pending.size === 1) child.channel?.ref();
      child.send({ id, bin, args, maxStdout: opts.maxStdout ?? MAX_STDOUT, tail: STDERR_TAIL }, (err) => {
        if (err) this.lost();
      });
    });
  }

  /** The helper's pid while it runs (tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  close(): void {
    this.child?.kill();
    this.child = undefined;
  }

  private started(): ChildProcess | undefined {
    if (this.child) return this.child;
    try {
      const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      child.on('message', (m: Answer) => this.answer(m));
      child.on('exit', () => {
        if (this.child === child) this.child = undefined;
        this.lost();
      });
      child.on('error', () => {
        if (this.child === child) this.child = undefined;
        this.lost();
      });
      // The host never keeps this process alive; pending runs hold their own timers.
      child.unref();
      child.channel?.unref();
      this.child = child;
      return child;
    } catch {
      return undefined;
    }
  }

  private answer(m: Answer): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.forget(m.id);
    if (m.error) return p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
    p.resolve({ code: m.code ?? null, stdout: m.stdout ?? '', stderr: m.stderr ?? '', timedOut: p.timedOut || !!m.over });
  }

  private forget(id: number): void {
    this.pending.delete(id);
    if (!this.pending.size) this.child?.channel?.unref();
  }

  private kill(id: number): void {
    this.child?.send({ kill: id }, () => {});
  }

  /** The host died: what it was running runs here instead. */
  private lost(): void {
    const runs = [...this.pending.values()];
    this.pending.clear();
    for (const p of runs) {
      if (p.timedOut) p.resolve({ code: null, stdout: '', stderr: '', timedOut: true });
      else runToolHere(p.bin, p.args, p.opts).then(p.resolve, p.reject);
    }
  }
}

let shared: ToolHost | undefined;

/** The process's tool host, started on first use. */
export function toolHost(): ToolHost {
  return (shared ??= new ToolHost());
}
