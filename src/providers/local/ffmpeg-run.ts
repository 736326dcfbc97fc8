// One ffmpeg render as a child process: progress from `-progress pipe:1`, a
// stall watchdog (no new frame or output time for `stallMs` → SIGTERM, then
// SIGKILL after a short grace), and a stop() for cancel and shutdown.
import { spawn, type ChildProcess } from 'node:child_process';

export const TERM_GRACE_MS = 1_500;

// Every live ffmpeg of this process, so none outlives it (no orphans on exit).
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => liveChildren.forEach((c) => c.kill('SIGKILL')));

export interface RenderExit {
  code: number | null;
  /** The child could not be started (e.g. ENOENT). */
  error?: NodeJS.ErrnoException;
  /** The last 8 KB of stderr. */
  stderr: string;
  /** Killed by the watchdog: no progress for `stallMs`. */
  stalled: boolean;
}

export interface RenderProcess {
  /** Settles once the child has exited and its output is drained. */
  exited: Promise<RenderExit>;
  /** SIGTERM, then SIGKILL after the grace; resolves when it has exited. */
  stop(): Promise<RenderExit>;
}

export interface RenderRunOptions {
  /** Called with each `-progress` line. */
  onLine: (line: string) => void;
  /** No new frame or output time for this long → killed, `stalled: true`. */
  stallMs: number;
}

/** The progress keys whose value changes whenever ffmpeg gets anywhere. */
const ADVANCE = /^(frame|out_time_us|out_time_ms)=(.*)$/;

export function startRender(bin: string, args: string[], opts: RenderRunOptions): RenderProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  let stderr = '';
  let partial = '';
  let stalled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const seen = new Map<string, string>();

  const terminate = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    killTimer ??= setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
  };
  const watchdog = setTimeout(() => {
    stalled = true;
    terminate();
  }, opts.stallMs);

  const exited = new Promise<RenderExit>((resolve) => {
    let ended = false;
    const end = (code: number | null, error?: NodeJS.ErrnoException) => {
      if (ended) return;
      ended = true;
      clearTimeout(watchdog);
      clearTimeout(killTimer);
      liveChildren.delete(child);
      resolve({ code, error, stderr, stalled });
    };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const raw of lines) {
        const line = raw.trim();
        const m = ADVANCE.exec(line);
        if (m && m[2] !== 'N/A' && seen.get(m[1]!) !== m[2]) {
          seen.set(m[1]!, m[2]!);
          watchdog.refresh(); // it moved: the stall clock starts over
        }
        opts.onLine(line);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8192);
    });
    // A failed spawn only reports 'error'; a run ends with 'close' once stdio is drained.
    // Node reaps the child either way, so no zombies are left behind.
    child.on('error', (err) => {
      if (child.pid === undefined) end(null, err); // other errors (a failed kill) leave it running
    });
    child.on('close', (code) => end(code));
  });

  return {
    exited,
    stop() {
      clearTimeout(watchdog);
      terminate();
      return exited;
    },
  };
}
