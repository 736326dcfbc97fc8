// A task survives a kill -9 of the only process (embedded database on disk)
// and completes after a restart, without waiting for the dead lease (10 minutes here).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function start(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    // A lease far longer than the test may take: completing at all proves the restart did not wait for it.
    env: { ...process.env, PORT: '0', REELAY_DATA_DIR: dataDir, LOG_LEVEL: 'info', DATABASE_URL: '', REELAY_CONFIG: '', REELAY_LEASE_MS: '600000' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${out}`)), 90_000);
    const onData = (d: Buffer) => {
      out += String(d);
      const m = /reelay ready at (http:\/\/[^/]+)\/graphql/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]! });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

async function gql(url: string, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return ((await res.json()) as { data: any }).data;
}

describe('restart on the embedded database', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-restart-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  // Two starts on PGlite and a render: minutes on a loaded machine.
  it('a task interrupted by kill -9 completes after restart', { timeout: 180_000 }, async () => {
    const first = await start(dataDir);
    children.push(first.child);
    const created = await gql(first.url, `mutation { createVideoTask(input: { prompt: "Survive kill -9", durationSeconds: 12, width: 1280, height: 720 }) { ... on CreateVideoTaskSuccess { task { id } } } }`);
    const id = created.createVideoTask.task.id;
    const task = (url: string) => gql(url, `query($id: ID!) { task(id: $id) { status progress result { url sizeBytes } } }`, { id }).then((d) => d.task);
    await expect.poll(async () => (await task(first.url)).progress ?? 0, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = await start(dataDir);
    children.push(second.child);
    // Resumed at once rather than after the dead process's 10-minute lease.
    await expect.poll(async () => (await task(second.url)).status, { timeout: 120_000, interval: 200 }).toBe('COMPLETED');
    const done = await task(second.url);
    const bytes = Buffer.from(await (await fetch(done.result.url)).arrayBuffer());
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(bytes.length).toBe(done.result.sizeBytes);
    second.child.kill('SIGTERM');
    expect(await new Promise((r) => second.child.once('exit', r))).toBe(0);
  });
});
