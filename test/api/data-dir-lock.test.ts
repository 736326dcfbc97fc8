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

/** A racer process (test/support/lock-racer.ts): `ask` sends one command and resolves with its answer. */
function startRacer() {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/lock-racer.ts'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const waiting: Array<(answer: { result: string; name?: string; message?: string }) => void> = [];
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += String(d);
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      waiting.shift()?.(JSON.parse(line));
    }
  });
  return {
    send(command: string) {
      const answer = new Promise<{ result: string; name?: string; message?: string }>((resolve) => waiting.push(resolve));
      child.stdin!.write(command + '\n');
      return answer;
    },
  };
}

/** The pid of a process that has exited. */
function exitedPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', () => resolve(child.pid!)));
}

/** The lock of a data directory as a process killed while holding it left it: `held` and an owner file naming a dead pid. */
function leaveDeadOwner(dir: string, pid: number): void {
  const runDir = `${dir}.lock`;
  fs.mkdirSync(path.join(runDir, 'held'), { recursive: true });
  fs.writeFileSync(path.join(runDir, 'owner.json'), JSON.stringify({ pid, hostname: os.hostname(), startedAt: new Date().toISOString(), purpose: 'crashed server', command: 'node dist/main.js' }));
}

describe('embedded data directory lock', () => {
  it("a dead owner's lock goes to exactly one of several processes that start at once; the others refuse with the usual line", async () => {
    const racers = Array.from({ length: 6 }, () => startRacer());
    // Every racer is up (tsx loaded) before the first race.
    await Promise.all(racers.map((r) => r.send('release')));
    const deadPid = await exitedPid();
    for (let round = 0; round < 25; round++) {
      const dir = path.join(tempDir(), 'db');
      leaveDeadOwner(dir, deadPid);
      const answers = await Promise.all(racers.map((r) => r.send(`go ${dir}`)));
      const summary = `round ${round}: ${JSON.stringify(answers)}`;
      expect(answers.filter((a) => a.result === 'won'), summary).toHaveLength(1);
      for (const a of answers.filter((x) => x.result !== 'won')) {
        expect(a.result, summary).toBe('refused');
        expect(a.message, summary).toMatch(/^the embedded database .*db is in use by (pid \d+ \(racer: |another process)/);
        expect(a.message).not.toContain('\n');
      }
      await Promise.all(racers.map((r) => r.send('release')));
    }
  });


  it('a gate left by a process killed while taking the lock does not keep the directory locked', async () => {
    const dir = path.join(tempDir(), 'db');
    const gate = path.join(`${dir}.lock`, 'acquiring');
    fs.mkdirSync(gate, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(gate, old, old);
    const t0 = Date.now();
    const lock = await lockDataDir(dir, 'after a crash while locking');
    expect(Date.now() - t0).toBeLessThan(1000);
    await lock.release();
    expect(fs.existsSync(gate)).toBe(false);
  });

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
