// The task counters (drizzle/0003_counts.sql, src/db/roll-up-counts.ts,
// count-tasks.ts): exact under concurrent writes with deltas rolled up or not,
// back-filled for rows written before they existed, rolled up by the server
// within a second; and the indexes built after the migrations. On PGlite and
// Postgres (where the pool makes the writes really concurrent).
import { getTableConfig } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execRows, type Db } from '../../src/db/client.js';
import { countTasks, readCounters } from '../../src/db/count-tasks.js';
import { createTask } from '../../src/db/create-task.js';
import { deleteTerminalTask } from '../../src/db/delete-task.js';
import { buildOnlineIndexes, ONLINE_INDEXES } from '../../src/db/online-indexes.js';
import { backfillCounts, rollUpCounts } from '../../src/db/roll-up-counts.js';
import { tasks, TASK_STATUSES, type TaskStatus } from '../../src/db/schema.js';
import type { TaskFilter } from '../../src/db/task-filter.js';
import { getTaskStats } from '../../src/db/task-stats.js';
import { startTestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

const kinds = await databaseKinds();
const OWNERS = ['ann', 'ben'];
const PROVIDERS = ['p1', 'p2'];
// A filter with a time bound far away matches the same rows but makes count and stats scan: the oracle.
const FAR = new Date('2999-01-01T00:00:00Z');
const scanning = (f: TaskFilter = {}): TaskFilter => ({ ...f, createdBefore: FAR });

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const FILTERS: TaskFilter[] = [
  {},
  { status: ['QUEUED'] },
  { status: ['COMPLETED', 'FAILED'] },
  { provider: 'p2' },
  { provider: 'p1', status: ['CANCELLED', 'PROCESSING'] },
];

async function expectCountersMatchScan(db: Db): Promise<void> {
  for (const owner of OWNERS) {
    for (const filter of FILTERS) {
      expect(await countTasks(db, owner, filter), `${owner} ${JSON.stringify(filter)}`).toBe(await countTasks(db, owner, scanning(filter)));
      const stats = await getTaskStats(db, owner, filter);
      const scanned = await getTaskStats(db, owner, scanning(filter));
      expect({ ...stats, avgDurationSeconds: null }).toEqual({ ...scanned, avgDurationSeconds: null });
      if (scanned.avgDurationSeconds === null) expect(stats.avgDurationSeconds).toBeNull();
      else expect(stats.avgDurationSeconds).toBeCloseTo(scanned.avgDurationSeconds, 9);
    }
  }
}

const pendingDeltas = async (db: Db) => Number((await execRows<{ n: number }>(db, sql`select count(*)::int as n from task_count_deltas`))[0]!.n);

/** `n` random writes at once: creates, transitions (with times), provider moves and deletes of finished tasks. */
async function concurrentWrites(db: Db, n: number, seed: number): Promise<void> {
  const r = random(seed);
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await createTask(db, { owner: pick(r, OWNERS), providerId: pick(r, PROVIDERS), prompt: 'seed' })).task.id);
  const ops = Array.from({ length: n }, () => {
    const kind = r();
    const id = pick(r, ids);
    const status = pick(r, TASK_STATUSES);
    const owner = pick(r, OWNERS);
    const provider = pick(r, PROVIDERS);
    const seconds = Math.floor(r() * 100_000) / 1000;
    return async () => {
      if (kind < 0.35) {
        ids.push((await createTask(db, { owner, providerId: provider, prompt: 'more' })).task.id);
      } else if (kind < 0.75) {
        const done = status === 'COMPLETED' || status === 'FAILED' || status === 'CANCELLED';
        await db.execute(
          sql`update tasks set status = ${status}, started_at = created_at + interval '1 second',
              completed_at = ${done ? sql`created_at + ${seconds} * interval '1 second'` : sql`null`} where id = ${id}::uuid`,
        );
      } else if (kind < 0.85) {
        await db.execute(sql`update tasks set provider_id = ${provider} where id = ${id}::uuid`);
      } else if (kind < 0.9) {
        await db.execute(sql`update tasks set progress = ${r()} where id = ${id}::uuid`); // counts nothing
      } else {
        await deleteTerminalTask(db, id, owner);
      }
    };
  });
  await Promise.all(ops.map((op) => op()));
}

describe.each(kinds)('task counters on %s', (kind) => {
  let store: TestStore;
  beforeEach(async () => {
    store = await openTestStore(kind);
  });
  afterEach(async () => {
    await store.close();
  });

  it('stay exact under concurrent creates, transitions and deletes, with deltas not rolled up, partly and fully rolled up', async () => {
    const db = store.database.db;
    // A roll-up running alongside the writes, in small parts.
    let writing = true;
    const rolling = (async () => {
      while (writing) await rollUpCounts(db, 7);
    })();
    await concurrentWrites(db, 300, 1);
    writing = false;
    await rolling;
    await concurrentWrites(db, 100, 2);
    expect(await pendingDeltas(db)).toBeGreaterThan(0);
    await expectCountersMatchScan(db);
    await rollUpCounts(db, 5);
    await expectCountersMatchScan(db);
    while ((await rollUpCounts(db)) > 0);
    expect(await pendingDeltas(db)).toBe(0);
    await expectCountersMatchScan(db);
  });

  it('back-fill counts the rows written before the counters existed, once, while writes go on', async () => {
    const db = store.database.db;
    // Rows written with triggers off stand for those of a deployment before this version.
    await db.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`);
      await tx.insert(tasks).values(
        Array.from({ length: 450 }, (_, i) => ({
          owner: OWNERS[i % 2]!,
          providerId: PROVIDERS[i % 3 ? 0 : 1]!,
          prompt: `old ${i}`,
          status: TASK_STATUSES[i % 5] as TaskStatus,
          startedAt: i % 5 ? new Date(Date.now() - 60_000) : null,
          completedAt: i % 5 >= 2 ? new Date(Date.now() - 60_000 + i * 7) : null,
        })),
      );
    });
    await db.execute(sql`delete from maintenance_done`);
    await db.execute(sql`truncate task_counts, task_count_deltas`);
    const [counted] = await Promise.all([backfillCounts(db), concurrentWrites(db, 150, 3)]);
    expect(counted).toBeGreaterThanOrEqual(450);
    expect(await backfillCounts(db)).toBeNull();
    for (const owner of OWNERS) {
      const rows = (await readCounters(db, owner))!;
      expect(rows.reduce((n, r) => n + r.tasks, 0)).toBe(await countTasks(db, owner, scanning()));
    }
    while ((await rollUpCounts(db)) > 0);
    await expectCountersMatchScan(db);
  });

  it('builds the indexes after the migrations idempotently and rebuilds an invalid leftover', async () => {
    const db = store.database.db;
    await store.database.maintenance; // in the background on Postgres
    const names = async () => (await execRows<{ name: string }>(db, sql`select indexname as name from pg_indexes where tablename = 'tasks'`)).map((r) => r.name);
    // Every index schema.ts declares exists (the trigram one only where pg_trgm can be had: Postgres).
    const declared = getTableConfig(tasks).indexes.map((i) => i.config.name);
    const expected = declared.filter((n) => kind === 'postgres' || !ONLINE_INDEXES.find((o) => o.name === n)?.postgresOnly);
    expect((await names()).sort()).toEqual(expect.arrayContaining(expected));
    expect(await buildOnlineIndexes(db, store.database.driver)).toMatchObject({ built: [], rebuilt: [] });
    // As an interrupted CREATE INDEX CONCURRENTLY leaves it:
    await db.execute(sql`update pg_index set indisvalid = false where indexrelid = 'tasks_owner_model_created'::regclass`);
    await db.execute(sql`drop index tasks_owner_provider_created`);
    expect(await buildOnlineIndexes(db, store.database.driver)).toMatchObject({ built: ['tasks_owner_provider_created'], rebuilt: ['tasks_owner_model_created'] });
    const [valid] = await execRows<{ ok: boolean }>(db, sql`select bool_and(indisvalid) as ok from pg_index where indrelid = 'tasks'::regclass`);
    expect(valid!.ok).toBe(true);
    expect(await buildOnlineIndexes(db, store.database.driver)).toMatchObject({ built: [], rebuilt: [] });
  });
});

describe.each(kinds)('counts through the server on %s', (kind) => {
  it('totalCount and stats are exact at once; the server rolls the deltas up within a second', async () => {
    const t = await startTestApp({ db: kind, configure: (c) => (c.role = 'api') });
    try {
      const db = t.app.services.database.db;
      await t.app.services.database.maintenance;
      for (let i = 0; i < 5; i++) await t.gql(`mutation($p: String!) { createVideoTask(input: { prompt: $p }) { __typename } }`, { p: `count ${i}` });
      await db.execute(sql`update tasks set status = 'FAILED', completed_at = now() where id = (select id from tasks order by created_at limit 1)`);
      const written = Date.now();
      const read = await t.gql(`{ tasks(first: 1) { totalCount } failed: tasks(first: 1, filter: { status: [FAILED] }) { totalCount } stats { total queued failed } }`);
      expect(read.data).toEqual({ tasks: { totalCount: 5 }, failed: { totalCount: 1 }, stats: { total: 5, queued: 4, failed: 1 } });
      while ((await pendingDeltas(db)) > 0) {
        expect(Date.now() - written).toBeLessThan(2500); // a 1 s period, plus a loaded machine's slack
        await new Promise((r) => setTimeout(r, 50));
      }
      expect((await t.gql(`{ stats { total queued failed } }`)).data.stats).toEqual({ total: 5, queued: 4, failed: 1 });
    } finally {
      await t.stop();
    }
  });
});
