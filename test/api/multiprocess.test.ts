// Split roles on one Postgres: an API process and runner processes. Killing
// a runner with SIGKILL mid-task must not lose the task: another runner picks
// it up when the lease lapses and finishes it, and the API process's
// subscribers see every change through LISTEN/NOTIFY.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTempDatabase, postgresAvailable, type TempDatabase } from '../support/postgres.js';
import { ROOT, startReelayProcess, waitForOutput } from '../support/processes.js';
import { subscribe, wsClient } from '../support/ws.js';
import { startTasksApiEmulator } from '../emulators/tasks-api.js';

const hasPostgres = await postgresAvailable();
const startRunnerProcess = (env: Record<string, string>) => startReelayProcess(['--role', 'runner'], env);

describe.skipIf(!hasPostgres)('split roles on Postgres', () => {
  let db: TempDatabase;
  let api: TestApp;
  let dataDir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    db = await createTempDatabase();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-split-'));
    api = await startTestApp({ databaseUrl: db.url, dataDir, argv: ['--role', 'api'] });
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await api?.stop();
    await db?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('a runner killed with SIGKILL mid-render is replaced by another that finishes the task', async () => {
    const env = { DATABASE_URL: db.url, REELAY_DATA_DIR: dataDir, REELAY_LEASE_MS: '1500' };
    const first = startRunnerProcess(env);
    children.push(first);
    await waitForOutput(first, 'reelay ready');

    const created = await api.gql(`mutation($input: CreateVideoTaskInput!) { createVideoTask(input: $input) { ... on CreateVideoTaskSuccess { task { id } } } }`, {
      input: { prompt: 'Survives a crash', durationSeconds: 20, width: 640, height: 360 },
    });
    const id = created.data.createVideoTask.task.id;
    const client = wsClient(api.wsUrl);
    const sub = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status progress result { url sizeBytes } } }`, { id }, (d) => d.taskUpdated);
    // Progress made in the runner process reaches the API process's subscriber.
    await sub.waitFor((v) => v.status === 'PROCESSING' && v.progress > 0.02, 60_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    const second = startRunnerProcess(env);
    children.push(second);
    const done = await sub.waitFor((v) => v.status === 'COMPLETED' || v.status === 'FAILED', 120_000);
    expect(done.status).toBe('COMPLETED');
    await sub.completed;
    await client.dispose();

    const file = await fetch(done.result.url);
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(bytes.length).toBe(done.result.sizeBytes);

    const q = await api.gql(`query($id: ID!) { task(id: $id) { events { status message } } }`, { id });
    expect(q.data.task.events.filter((e: { status: string }) => e.status === 'COMPLETED')).toHaveLength(1);

    // Graceful shutdown of a runner exits cleanly.
    second.kill('SIGTERM');
    const code = await new Promise((r) => second.once('exit', r));
    expect(code).toBe(0);
  });

  it('the embedded database refuses split roles with a clear message', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--role', 'api'], { cwd: ROOT, env: { ...process.env, DATABASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += String(d)));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(2);
    expect(err).toMatch(/--role api needs DATABASE_URL/);
  });

  it('maxConcurrency holds across two runner processes', async () => {
    const emu = await startTasksApiEmulator();
    emu.neverFinish = true;
    const cfgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-conc-'));
    const configFile = path.join(cfgDir, 'reelay.config.json');
    fs.writeFileSync(configFile, JSON.stringify({ providers: [{ id: 'slow', kind: 'tasks-api', baseUrl: emu.baseUrl, maxConcurrency: 2, pollIntervalMs: 100 }] }));
    const concDb = await createTempDatabase();
    const env = { DATABASE_URL: concDb.url, REELAY_DATA_DIR: cfgDir, REELAY_CONFIG: configFile, REELAY_LEASE_MS: '3000' };
    const concApi = await startTestApp({ databaseUrl: concDb.url, dataDir: cfgDir, argv: ['--role', 'api'], env: { REELAY_CONFIG: configFile } });
    const runners = [startRunnerProcess(env), startRunnerProcess(env)];
    children.push(...runners);
    try {
      await Promise.all(runners.map((r) => waitForOutput(r, 'reelay ready')));
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await concApi.gql(`mutation($input: CreateVideoTaskInput!) { createVideoTask(input: $input) { ... on CreateVideoTaskSuccess { task { id } } } }`, { input: { prompt: `busy ${i}` } });
        ids.push(res.data.createVideoTask.task.id);
      }
      const count = async () => (await concApi.gql(`{ stats { processing queued } }`)).data.stats as { processing: number; queued: number };
      await expect.poll(count, { timeout: 20_000 }).toEqual({ processing: 2, queued: 3 });
      // It stays that way while both runners keep claiming (several claim ticks pass).
      for (let i = 0; i < 10; i++) {
        expect(await count()).toEqual({ processing: 2, queued: 3 });
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(emu.createRequests).toBe(2);
      const q = await concApi.gql(`{ tasks(first: 10, orderBy: CREATED_AT_ASC) { edges { node { id status queuePosition } } } }`);
      const nodes = q.data.tasks.edges.map((e: { node: { id: string; status: string; queuePosition: number | null } }) => e.node);
      expect(nodes.map((n: { status: string }) => n.status)).toEqual(['PROCESSING', 'PROCESSING', 'QUEUED', 'QUEUED', 'QUEUED']);
      expect(nodes.map((n: { queuePosition: number | null }) => n.queuePosition)).toEqual([null, null, 1, 2, 3]);
      // Cancelling one frees a slot for the oldest queued task, and the upstream task is deleted.
      await concApi.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename } }`, { id: ids[0] });
      await expect.poll(async () => (await concApi.gql(`query($id: ID!) { task(id: $id) { status } }`, { id: ids[2] })).data.task.status, { timeout: 20_000 }).toBe('PROCESSING');
      await expect.poll(() => emu.deleted.length, { timeout: 10_000 }).toBe(1);
      expect(await count()).toEqual({ processing: 2, queued: 2 });
    } finally {
      for (const r of runners) r.kill('SIGKILL');
      await concApi.stop();
      await emu.close();
      await concDb.drop();
      fs.rmSync(cfgDir, { recursive: true, force: true });
    }
  });
});
