// One process per embedded data directory: a second one refuses at once,
// naming the first; a holder that died (even by SIGKILL) does not keep it.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir } from '../../src/db/lock.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-lock-'));
  dirs.push(d);
  return d;
}

/** Run node with `args` to its end (the test's own event loop keeps serving meanwhile). */
function run(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stderr += String(d)));
  // A second server that starts instead of refusing would never end.
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => child.once('close', (status) => (clearTimeout(timer), resolve({ status, stdout, stderr }))));
}

function holdInChild(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/hold-data-dir.ts', dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('locked') && resolve(child));
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
}

describe('embedded data directory lock', () => {
  it('refuses while another process holds it, naming that process, and is free at once after that process is SIGKILLed', async () => {
    const dir = path.join(tempDir(), 'db');
    const holder = await holdInChild(dir);
    const refused = await lockDataDir(dir, 'second').then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(DataDirLockedError);
    expect((refused as Error).message).toContain(`pid ${holder.pid} (test holder:`);
    expect((refused as Error).message).not.toContain('\n');

    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    // No waiting for the lock to go stale: its owner is provably gone.
    const t0 = Date.now();
    const lock = await lockDataDir(dir, 'after the crash');
    expect(Date.now() - t0).toBeLessThan(1000);
    await lock.release();
  });

  it('a second server on the same data directory exits with code 2 and one line naming the holder', async () => {
    const dataDir = tempDir();
    // The holder is this process (a running server holds it the same way: see keys-cli.test.ts).
    const lock = await lockDataDir(path.join(dataDir, 'db'), 'reelay server');
    try {
      const second = await run(['--import', 'tsx', 'src/main.ts'], { PORT: '0', REELAY_DATA_DIR: dataDir, DATABASE_URL: '', REELAY_CONFIG: '', LOG_LEVEL: 'info' });
      expect(second.status).toBe(2);
      const lines = second.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^reelay: the embedded database .*db is in use by pid ${process.pid} \\(reelay server: .*, since .*\\); stop it first`));
      expect(second.stdout).toBe('');
    } finally {
      await lock.release();
    }
  });
});
