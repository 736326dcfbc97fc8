// Retention through the real server on PGlite and Postgres: REELAY_RETENTION_DAYS
// deletes exactly the finished tasks completed before the window (with their
// events, idempotency keys and files, every owner's alike) and leaves active and
// recent ones; REELAY_FILE_RETENTION_DAYS removes only the stored files (/files/
// answers 410, result.fileExpired); `stats` totals keep removed tasks; concurrent
// sweeps neither fail nor count a task twice.
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execRows } from '../../src/db/client.js';
import { sweepRetention } from '../../src/runner/retention.js';
import { startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';
import { PNG_DATA_URL, providerEntry } from '../e2e/helpers.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { until } from '../support/wait.js';

const kinds = await databaseKinds();
const ALICE = 'alice-key-retention-1';
const BOB = 'bob-key-retention-1';
const OPS = 'ops-key-retention-1';

const CREATE = /* GraphQL */ `
  mutation($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) { __typename ... on CreateVideoTaskSuccess { task { id } } ... on Error { code message } }
  }
`;
const READ = /* GraphQL */ `
  query($id: ID!) { task(id: $id) { id status inputImage { url } result { url thumbnailUrl upstreamUrl fileExpired } events { status } } }
`;
const STATS = /* GraphQL */ `
  query($filter: TaskFilter) {
    stats(filter: $filter) { total queued processing completed failed cancelled successRate avgDurationSeconds byProvider { provider total completed failed } }
  }
`;
const STATS_FILTERS = [undefined, { provider: 'vg' }, { status: ['COMPLETED', 'FAILED'] }, { provider: 'vg-one', status: ['CANCELLED', 'QUEUED', 'PROCESSING'] }];

interface Task {
  id: string;
  status: string;
  inputImage: { url: string } | null;
  result: { url: string; thumbnailUrl: string | null; upstreamUrl: string | null; fileExpired: boolean } | null;
  events: Array<{ status: string }>;
}

describe.each(kinds)('retention on %s', (kind) => {
  let emu: VideogenV1Emulator;
  let t: TestApp;

  const db = () => t.app.services.database.db;
  const create = async (key: string, input: Record<string, unknown>): Promise<string> => {
    const r = await t.gql(CREATE, { input }, key);
    expect(r.data?.createVideoTask.__typename, JSON.stringify(r)).toBe('CreateVideoTaskSuccess');
    return r.data.createVideoTask.task.id;
  };
  const read = async (id: string, key: string): Promise<Task | null> => (await t.gql(READ, { id }, key)).data.task;
  /** Polls until the task satisfies `pred` (the runner works on its own). */
  const waitFor = async (id: string, key: string, pred: (task: Task) => boolean, timeoutMs = 20_000): Promise<Task> =>
    (await until(() => read(id, key), (task) => task !== null && pred(task), timeoutMs, 50))!;
  const finished = (task: Task) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(task.status);
  const stats = async (key: string) => Promise.all(STATS_FILTERS.map(async (filter) => (await t.gql(STATS, { filter }, key)).data.stats));
  const totalCount = async (key: string) => (await t.gql(`{ tasks(first: 1) { totalCount } }`, undefined, key)).data.tasks.totalCount;
  /** Move tasks' completion into the past by `days` (as if they had finished then). */
  const age = (ids: string[], days: number) =>
    db().execute(sql`update tasks set completed_at = now() - make_interval(secs => ${days * 86_400}::double precision) where id = any(${`{${ids.join(',')}}`}::uuid[])`);
  const rowsOf = async (table: 'tasks' | 'task_events' | 'idempotency_keys', column: string, ids: string[]) =>
    Number((await execRows<{ n: number }>(db(), sql`select count(*)::int as n from ${sql.raw(table)} where ${sql.raw(column)} = any(${`{${ids.join(',')}}`}::uuid[])`))[0]!.n);
  const dirExists = (id: string) => fs.existsSync(path.join(t.config.filesDir, id));

  beforeAll(async () => {
    emu = await startVideogenV1Emulator({ processingAfterMs: 50, completeAfterMs: 150 });
    t = await startTestApp({
      db: kind,
      env: {
        REELAY_API_KEYS: `alice:${ALICE},bob:${BOB}`,
        REELAY_ADMIN_KEYS: `ops:${OPS}`,
        REELAY_RETENTION_DAYS: '7',
        REELAY_FILE_RETENTION_DAYS: '1.5',
        // Sweeps in these tests are triggered by the test itself.
        REELAY_RETENTION_INTERVAL_MS: '86400000',
      },
      providers: [
        providerEntry('vg', 'videogen-v1', emu.url, { options: { acceptDataUrl: true } }),
        providerEntry('vg-one', 'videogen-v1', emu.url, { maxConcurrency: 1 }),
      ],
      defaultProvider: 'vg',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
  });

  it('deletes exactly the finished tasks completed before the window, with events, keys and files; stats keep them', async () => {
    // Alice: one of each finished state, an input image, an idempotency key; active and recent ones.
    const completed = await create(ALICE, { prompt: 'old lighthouse', idempotencyKey: 'old-key' });
    const withImage = await create(ALICE, { prompt: 'old dog', image: { base64: PNG_DATA_URL } });
    const failed = await create(ALICE, { prompt: 'old [fail]' });
    const cancelled = await create(ALICE, { prompt: 'old [never] cancelled' });
    const processing = await create(ALICE, { prompt: 'running [never]' });
    const holder = await create(ALICE, { prompt: 'holds the slot [never]', provider: 'vg-one' });
    await waitFor(holder, ALICE, (x) => x.status === 'PROCESSING');
    const queued = await create(ALICE, { prompt: 'waits [never]', provider: 'vg-one' });
    const recent = await create(ALICE, { prompt: 'recent one' });
    // Bob: the same rule for another owner.
    const bobOld = await create(BOB, { prompt: 'bob old' });
    const bobRecent = await create(BOB, { prompt: 'bob recent' });

    for (const id of [completed, withImage, recent]) expect((await waitFor(id, ALICE, finished)).status).toBe('COMPLETED');
    expect((await waitFor(failed, ALICE, finished)).status).toBe('FAILED');
    for (const id of [bobOld, bobRecent]) expect((await waitFor(id, BOB, finished)).status).toBe('COMPLETED');
    await waitFor(cancelled, ALICE, (x) => x.status === 'PROCESSING');
    expect((await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename } }`, { id: cancelled }, ALICE)).data.cancelTask.__typename).toBe('CancelTaskSuccess');
    await waitFor(processing, ALICE, (x) => x.status === 'PROCESSING');
    expect((await read(queued, ALICE))!.status).toBe('QUEUED');

    const old = [completed, withImage, failed, cancelled, bobOld];
    const kept = [processing, holder, queued, recent, bobRecent];
    const oldTask = (await read(completed, ALICE))!;
    expect(oldTask.result!.fileExpired).toBe(false);
    expect((await read(withImage, ALICE))!.inputImage!.url).toContain(`/files/${withImage}/input.png`);
    for (const id of [completed, withImage, recent, bobOld]) expect(dirExists(id)).toBe(true);

    // Completed 8 days ago (past the 7-day window); the active ones too, which must not matter;
    // the recent one 12 hours ago (inside both windows).
    await age([...old, processing, holder, queued], 8);
    await age([recent, bobRecent], 0.5);
    const before = { alice: await stats(ALICE), bob: await stats(BOB), ops: await stats(OPS) };
    expect(before.alice[0]).toMatchObject({ total: 8, completed: 3, failed: 1, cancelled: 1, processing: 2, queued: 1 });
    expect(await rowsOf('task_events', 'task_id', old)).toBeGreaterThan(0);
    expect(await rowsOf('idempotency_keys', 'task_id', [completed])).toBe(1);

    const report = await t.app.runner!.sweepRetention();
    expect(report).toEqual({ tasks: 5, files: 0 });

    // Gone, with everything that pointed at them.
    for (const id of old) expect(await read(id, id === bobOld ? BOB : ALICE)).toBeNull();
    expect(await rowsOf('tasks', 'id', old)).toBe(0);
    expect(await rowsOf('task_events', 'task_id', old)).toBe(0);
    expect(await rowsOf('idempotency_keys', 'task_id', old)).toBe(0);
    for (const id of old) expect(dirExists(id)).toBe(false);
    expect((await fetch(oldTask.result!.url)).status).toBe(404);
    // The key names nothing any more: the same request makes a new task.
    const again = await create(ALICE, { prompt: 'old lighthouse', idempotencyKey: 'old-key' });
    expect(again).not.toBe(completed);
    await waitFor(again, ALICE, finished);

    // Untouched: active (whatever their completed_at says) and recent ones, of both owners.
    expect(await rowsOf('tasks', 'id', kept)).toBe(kept.length);
    expect((await read(processing, ALICE))!.status).toBe('PROCESSING');
    expect((await read(holder, ALICE))!.status).toBe('PROCESSING');
    expect((await read(queued, ALICE))!.status).toBe('QUEUED');
    const recentTask = (await read(recent, ALICE))!;
    expect(recentTask).toMatchObject({ status: 'COMPLETED', result: { fileExpired: false } });
    expect((await fetch(recentTask.result!.url)).status).toBe(200);
    expect((await read(bobRecent, BOB))!.status).toBe('COMPLETED');

    // totalCount counts what exists; stats keep the history (the new task adds one to Alice's).
    expect(await totalCount(ALICE)).toBe(kept.length - 1 + 1);
    expect(await totalCount(BOB)).toBe(1);
    const after = { alice: await stats(ALICE), bob: await stats(BOB), ops: await stats(OPS) };
    expect(after.bob).toEqual(before.bob);
    expect(after.alice[0]).toMatchObject({ total: before.alice[0].total + 1, completed: before.alice[0].completed + 1 });
    expect(after.alice.slice(3)).toEqual(before.alice.slice(3));
    expect(after.ops[0].total).toBe(before.ops[0].total + 1);

    // Nothing more to do.
    expect(await t.app.runner!.sweepRetention()).toEqual({ tasks: 0, files: 0 });
    await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename } }`, { id: queued }, ALICE);
  });

  it('file retention removes only the stored files: 410 Gone, fileExpired, upstreamUrl kept', async () => {
    const expiring = await create(ALICE, { prompt: 'files go', image: { base64: PNG_DATA_URL } });
    const fresh = await create(ALICE, { prompt: 'files stay' });
    const failedWithImage = await create(BOB, { prompt: 'failed [fail]', image: { base64: PNG_DATA_URL } });
    for (const id of [expiring, fresh]) await waitFor(id, ALICE, finished);
    await waitFor(failedWithImage, BOB, finished);
    const before = (await read(expiring, ALICE))!;
    expect(before.result).toMatchObject({ fileExpired: false, upstreamUrl: expect.stringContaining(emu.url) });
    expect((await fetch(before.result!.url)).status).toBe(200);
    const failedBefore = (await read(failedWithImage, BOB))!;
    expect((await fetch(failedBefore.inputImage!.url)).status).toBe(200);
    await age([expiring, failedWithImage], 2);
    const statsBefore = await stats(ALICE);
    expect(await t.app.runner!.sweepRetention()).toEqual({ tasks: 0, files: 2 });

    // The row stays, describing what was there; its URLs answer 410 with a body that says why.
    const after = (await read(expiring, ALICE))!;
    expect(after.status).toBe('COMPLETED');
    expect(after.result).toEqual({ url: before.result!.url, thumbnailUrl: before.result!.thumbnailUrl, upstreamUrl: before.result!.upstreamUrl, fileExpired: true });
    expect(after.events).toEqual(before.events);
    expect(dirExists(expiring)).toBe(false);
    // The poster too: it cannot be made any more, and says so with 410 rather than 404.
    for (const url of [after.result!.url, after.result!.thumbnailUrl!, after.inputImage!.url, failedBefore.inputImage!.url]) {
      const res = await fetch(url);
      expect(res.status).toBe(410);
      expect(await res.text()).toMatch(/removed by file retention/);
    }
    expect((await fetch(after.result!.url, { method: 'HEAD' })).status).toBe(410);
    // An unknown task's file is still 404.
    expect((await fetch(`${t.url}/files/00000000-0000-4000-8000-000000000000/result.mp4`)).status).toBe(404);

    const freshTask = (await read(fresh, ALICE))!;
    expect(freshTask.result!.fileExpired).toBe(false);
    const res = await fetch(freshTask.result!.url);
    expect(res.status).toBe(200);
    expect(await stats(ALICE)).toEqual(statsBefore);
    expect(await t.app.runner!.sweepRetention()).toEqual({ tasks: 0, files: 0 });

    // Past task retention the row goes too, and its file then answers 404 like any unknown one.
    await age([expiring], 8);
    const statsAged = await stats(ALICE);
    expect(await t.app.runner!.sweepRetention()).toEqual({ tasks: 1, files: 0 });
    expect(await read(expiring, ALICE)).toBeNull();
    expect((await fetch(after.result!.url)).status).toBe(404);
    expect(await stats(ALICE)).toEqual(statsAged);
  });

  it('concurrent sweeps neither fail nor count a removed task twice', async () => {
    const removedTotal = async () => Number((await execRows<{ n: string }>(db(), sql`select coalesce(sum(tasks), 0)::text as n from removed_task_counts`))[0]!.n);
    // Many finished rows (more than one batch), written directly: this is about the sweep, not the runner.
    const n = 1234;
    await db().execute(sql`insert into tasks (owner, provider_id, prompt, status, started_at, completed_at)
      select 'carol', 'vg', 'bulk ' || i, (array['COMPLETED', 'FAILED', 'CANCELLED'])[1 + i % 3]::task_status,
             now() - interval '10 days 1 minute', now() - interval '10 days' + i * interval '1 ms'
      from generate_series(1, ${n}) i`);
    const removedBefore = await removedTotal();
    const statsBefore = (await t.gql(`query { stats(owner: "carol") { total completed failed cancelled avgDurationSeconds } }`, undefined, OPS)).data.stats;
    expect(statsBefore.total).toBe(n);

    const database = t.app.services.database;
    const reports = await Promise.all([
      t.app.runner!.sweepRetention(),
      sweepRetention(database.db, t.config.filesDir, { taskDays: 7, fileDays: 1.5 }),
      sweepRetention(database.workDb, t.config.filesDir, { taskDays: 7, fileDays: 1.5 }),
    ]);
    expect(reports.reduce((s, r) => s + r.tasks, 0)).toBe(n);
    expect(await removedTotal()).toBe(removedBefore + n);
    expect(Number((await execRows<{ n: number }>(db(), sql`select count(*)::int as n from tasks where owner = 'carol'`))[0]!.n)).toBe(0);
    const statsAfter = (await t.gql(`query { stats(owner: "carol") { total completed failed cancelled avgDurationSeconds } }`, undefined, OPS)).data.stats;
    expect(statsAfter).toEqual(statsBefore);
    expect((await t.gql(`query { tasks(first: 1, owner: "carol") { totalCount } }`, undefined, OPS)).data.tasks.totalCount).toBe(0);
  });
});
