// The bundled ffmpeg/ffprobe binaries and one bounded way to run them: a
// deadline, a cap on what they print, and the caller's abort.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { toolHost } from './tool-host.js';

const require = createRequire(import.meta.url);

function installed(pkg: string, fallback: string): string {
  try {
    return (require(pkg) as { path: string }).path;
  } catch {
    return fallback; // the installer throws when its binary is absent: try PATH
  }
}

let ffmpeg: string | undefined;
let ffprobe: string | undefined;
/** @ffmpeg-installer's binary, else `ffmpeg` on PATH. */
export const ffmpegPath = (): string => (ffmpeg ??= installed('@ffmpeg-installer/ffmpeg', 'ffmpeg'));
/** @ffprobe-installer's binary, else `ffprobe` on PATH. */
export const ffprobePath = (): string => (ffprobe ??= installed('@ffprobe-installer/ffprobe', 'ffprobe'));

export interface ToolRun {
  /** Exit code; null when killed. */
  code: number | null;
  stdout: string;
  /** The last few KB of stderr. */
  stderr: string;
  /** Killed at the deadline. */
  timedOut: boolean;
}

export interface ToolOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Most stdout kept; a tool printing more is killed (and its run reported as timed out). */
  maxStdout?: number;
}

export const STDERR_TAIL = 4096;
export const MAX_STDOUT = 4 * 1024 * 1024;

/**
 * Run a tool to its end or its deadline (SIGKILL). Rejects only when it cannot
 * be started (e.g. ENOENT) or the caller aborts (with `signal.reason`).
 * The process is started by the tool host (tool-host.ts), a small helper
 * process, when it is up: starting a child from a big process costs
 * milliseconds of its event loop per run (fork copies its page tables).
 */
export function runTool(bin: string, args: string[], opts: ToolOptions): Promise<ToolRun> {
  return toolHost().run(bin, args, opts);
}

/** runTool in this process (the host's fallback). */
export function runToolHere(bin: string, args: string[], opts: ToolOptions): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(opts.signal.reason);
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let done = false;
    const settle = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const kill = () => child.kill('SIGKILL');
    const onAbort = () => {
      kill();
      settle(() => reject(opts.signal!.reason));
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.length > (opts.maxStdout ?? MAX_STDOUT)) {
        timedOut = true;
        kill();
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL);
    });
    child.on('error', (err) => {
      if (child.pid === undefined) settle(() => reject(err)); // could not start
    });
    child.on('close', (code) => settle(() => resolve({ code, stdout, stderr, timedOut })));
  });
}

/**
 * ffmpeg's own `-max_pixels` for a pixel limit: a backstop in case a header lies.
 * The decoder counts aligned, padded buffers, so it gets some room above the
 * limit; the exact limit is judged from the declared size.
 */
export function decoderPixelCap(maxPixels: number): string {
  return String(Math.ceil(maxPixels * 1.25) + 65_536);
}

/** The last stderr line, without ffmpeg's "[png @ 0x…]" addresses: a readable reason. */
export function lastErrorLine(stderr: string): string | null {
  const line = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).at(-1);
  return line ? line.replace(/ @ 0x[0-9a-f]+\]/gi, ']').slice(0, 200) : null;
}
