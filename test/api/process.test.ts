// The server as operators run it: `npm start` (compiled JavaScript, one Node
// process) stops cleanly on a SIGTERM sent to npm's own pid, and setup
// mistakes end with one line and exit code 2 instead of a stack trace.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTempDatabase, postgresAvailable, type TempDatabase } from '../support/postgres.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hasPostgres = await postgresAvailable();
const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const fn of cleanups) await fn();
});

function launch(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, REELAY_CONFIG: '', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += String(d)));
  child.stderr!.on('data', (d) => (out.stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, out, exited };
}

function tempDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-proc-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A database for a spawned server: a fresh Postgres database when one answers (quick to open), else the embedded one. */
async function databaseEnv(): Promise<Record<string, string>> {
  if (!hasPostgres) return { DATABASE_URL: '' };
  const db: TempDatabase = await createTempDatabase();
  cleanups.push(() => db.drop());
  return { DATABASE_URL: db.url };
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

describe('npm start', () => {
  it('SIGTERM sent to the npm process shuts the server down gracefully: port released, no process left', async () => {
    const { child, out, exited } = launch('npm', ['start', '--silent'], { PORT: '0', REELAY_DATA_DIR: tempDataDir(), ...(await databaseEnv()) });
    const ready = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
      const timer = setInterval(() => {
        const line = out.stdout.split('\n').find((l) => l.includes('reelay ready at'));
        if (line) {
          clearInterval(timer);
          const entry = JSON.parse(line) as { pid: number; msg: string };
          resolve({ pid: entry.pid, port: Number(/:(\d+)\/graphql/.exec(entry.msg)![1]) });
        } else if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`npm start exited: ${out.stdout}${out.stderr}`));
        }
      }, 50);
    });
    cleanups.push(() => void (isRunning(ready.pid) && process.kill(ready.pid, 'SIGKILL')));
    // One Node process running the compiled server, in place of npm's shell.
    expect(ready.pid).not.toBe(child.pid);
    expect(fs.readFileSync(`/proc/${ready.pid}/cmdline`, 'utf8').split('\0')).toContain('dist/main.js');
    expect(await portIsFree(ready.port)).toBe(false);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out.stdout).toMatch(/"signal":"SIGTERM","msg":"shutting down"/);
    expect(isRunning(ready.pid)).toBe(false);
    expect(await portIsFree(ready.port)).toBe(true);
  });
});

describe('setup errors: one line, exit code 2', () => {
  const tsxMain = ['--import', 'tsx', 'src/main.ts'];

  it('the port is in use', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => holder.close(() => resolve())));
    const port = (holder.address() as net.AddressInfo).port;
    const { out, exited } = launch(process.execPath, tsxMain, { PORT: String(port), REELAY_DATA_DIR: tempDataDir(), ...(await databaseEnv()) });
    expect(await exited).toBe(2);
    expect(out.stderr).toBe(`reelay: cannot listen on 127.0.0.1:${port}: the port is already in use (another reelay?); stop that process or set PORT\n`);
  });

  it('DATABASE_URL does not answer', async () => {
    const { out, exited } = launch(process.execPath, tsxMain, { PORT: '0', REELAY_DATA_DIR: tempDataDir(), DATABASE_URL: 'postgres://reelay:s3cret@127.0.0.1:1/reelay' });
    expect(await exited).toBe(2);
    expect(out.stderr).toMatch(/^reelay: cannot connect to the database at postgres:\/\/reelay@127\.0\.0\.1:1\/reelay: .*ECONNREFUSED.*\n$/);
    expect(out.stderr + out.stdout).not.toContain('s3cret');
  });
});
