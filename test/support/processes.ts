// reelay as a child process (the compiled `dist/main.js` that `npm start`
// runs, rebuilt from the sources first), for tests that kill processes, split
// roles or read what the server prints.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ReelayProcess extends ChildProcess {
  /** Everything it printed so far (stdout and stderr). */
  output: string[];
  /** Resolves with the exit code (or the signal name) once it is gone. */
  exited: Promise<number | string | null>;
}

let built = false;

/** Bring dist/ up to date with the sources (incremental, well under a second), once per test file. */
export function buildOnce(): void {
  if (built) return;
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  built = true;
}

/** Start the server with `args` and the given environment on top of the test's. */
export function startReelayProcess(args: string[], env: Record<string, string>): ReelayProcess {
  buildOnce();
  const child = spawn(process.execPath, ['--enable-source-maps', 'dist/main.js', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }) as ReelayProcess;
  child.output = [];
  child.stdout!.on('data', (d) => child.output.push(String(d)));
  child.stderr!.on('data', (d) => child.output.push(String(d)));
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return child;
}

/** Wait until the process printed `text`; fails early when it exits. */
export function waitForOutput(child: ReelayProcess, text: string, timeoutMs = 50_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = setInterval(() => {
      if (child.output.join('').includes(text)) {
        clearInterval(tick);
        resolve();
      } else if (Date.now() - t0 > timeoutMs || child.exitCode !== null || child.signalCode !== null) {
        clearInterval(tick);
        reject(new Error(`process did not print "${text}": ${child.output.join('').slice(-2000)}`));
      }
    }, 50);
  });
}

/** Has it printed that it is ready? */
export function isReady(child: ReelayProcess): boolean {
  return child.output.join('').includes('reelay ready');
}

/** SIGKILL and wait until it is gone. */
export async function killHard(child: ReelayProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await child.exited;
}

/** A TCP port that was free a moment ago (for a server that must keep its port across restarts). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
