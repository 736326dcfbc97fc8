// The history of finished tasks (drizzle/0008_history.sql, src/db/roll-up-history.ts,
// read-history.ts, finished-stats.ts): exact (same histograms and costs as a scan
// of the tasks) under concurrent finishes with deltas rolled up or not, back-filled
// for tasks finished before it existed, kept when tasks are deleted; series per
// UTC hour and day, equal from task_series (drizzle/0010_series.sql), from
// task_history and from a scan; percentiles within the histograms' 5 %. On
// PGlite and Postgres.
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execRows, type Db } from '../../src/db/client.js';
import { createTask } from '../../src/db/create-task.js';
import { deleteTerminalTask } from '../../src/db/delete-task.js';
import { getFinishedStats, getStatsSeries } from '../../src/db/finished-stats.js';
import { bucketOf, quantileSeconds } from '../../src/db/histogram.js';
import { readFinishedTotals, type FinishedGroup } from '../../src/db/read-history.js';
import { backfillHistory, fillHistorySeries, rollUpHistory, SERIES_FILL } from '../../src/db/roll-up-history.js';
import { tasks, type TaskStatus } from '../../src/db/schema.js';
import type { TaskFilter } from '../../src/db/task-filter.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

const kinds = await databaseKinds();
const OWNERS = ['ann', 'ben'];
const PROVIDERS = ['p1', 'p2'];
const FINAL: TaskStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];
// A creation-time bound far away matches the same tasks but makes the history readers scan: the oracle.
const FAR = new Date('2999-01-01T00:00:00Z');

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

/** Groups summed per provider × status × currency, histograms without trailing zeros, costs rounded: comparable. */
function normalize(groups: FinishedGroup[]) {
  const trim = (h: number[]) => {
    const out = [...h];
    while (out.length && out[out.length - 1] === 0) out.pop();
    return out;
  };
  const by = new Map<string, { tasks: number; cost: number; run: number[]; queue: number[] }>();
  for (const g of groups) {
    const key = `${g.providerId}/${g.status}/${g.currency}`;
    const e = by.get(key) ?? { tasks: 0, cost: 0, run: [], queue: [] };
    e.tasks += g.tasks;
    e.cost += g.cost;
    g.runHist.forEach((c, i) => (e.run[i] = (e.run[i] ?? 0) + c));
    g.queueHist.forEach((c, i) => (e.queue[i] = (e.queue[i] ?? 0) + c));
    by.set(key, e);
  }
  return Object.fromEntries(
    [...by.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, e]) => [k, { tasks: e.tasks, cost: Math.round(e.cost * 1e6) / 1e6, run: trim(Array.from(e.run, (c) => c ?? 0)), queue: trim(Array.from(e.queue, (c) => c ?? 0)) }]),
  );
}

const FILTERS: TaskFilter[] = [{}, { provider: 'p2' }, { status: ['COMPLETED'] }, { provider: 'p1', status: ['FAILED', 'CANCELLED'] }];

async function expectHistoryMatchesScan(db: Db): Promise<void> {
  for (const owner of [...OWNERS, null]) {
    for (const filter of FILTERS) {
      const history = normalize(await readFinishedTotals(db, owner, filter));
      const scanned = normalize(await readFinishedTotals(db, owner, { ...filter, createdBefore: FAR }));
      expect(history, `${owner} ${JSON.stringify(filter)}`).toEqual(scanned);
    }
  }
}

/** Series from task_series (when it answers), from task_history and from a scan of the tasks: all equal. */
async function expectSeriesMatchScan(db: Db): Promise<void> {
  const now = new Date();
  for (const owner of [...OWNERS, null]) {
    for (const filter of FILTERS) {
      for (const [span, last] of [['hour', 168], ['day', 7]] as const) {
        const scanned = await getStatsSeries(db, owner, filter, span, last, now, 'scan');
        const what = `${owner} ${JSON.stringify(filter)} ${span}`;
        expect(scanned.reduce((n, b) => n + b.total, 0), what).toBeGreaterThan(0);
        expect(await getStatsSeries(db, owner, filter, span, last, now, 'history'), what).toEqual(scanned);
        expect(await getStatsSeries(db, owner, filter, span, last, now), what).toEqual(scanned);
      }
    }
  }
}

/** task_series holds task_history's hours and days summed over providers and models, row for row. */
async function expectSeriesFollowsHistory(db: Db): Promise<void> {
  const [row] = await execRows<{ wrong: number; rows: number }>(
    db,
    sql`select count(*) filter (where h.tasks is distinct from s.tasks or h.run_hist is distinct from s.run_hist or not abs(h.cost - s.cost) < 1e-9)::int as wrong,
          count(*)::int as rows
        from (
          select owner, span, start, status, currency, sum(tasks)::bigint as tasks, sum(cost) as cost, hist_sum(run_hist) as run_hist
          from task_history where span <> 'all' group by 1, 2, 3, 4, 5
        ) h full join task_series s using (owner, span, start, status, currency)`,
  );
  expect(row!.wrong).toBe(0);
}

const seriesRows = async (db: Db) => Number((await execRows<{ n: number }>(db, sql`select count(*)::int as n from task_series`))[0]!.n);

const pendingDeltas = async (db: Db) => Number((await execRows<{ n: number }>(db, sql`select count(*)::int as n from task_history_deltas`))[0]!.n);

/**
 * `n` random writes at once: creates, finishes of active tasks (with times and
 * a cost), inserts of tasks already finished, progress. No deletes and no
 * changes to finished tasks: the oracle (a scan) could not see what they were.
 */
async function concurrentFinishes(db: Db, n: number, seed: number): Promise<void> {
  const r = random(seed);
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await createTask(db, { owner: pick(r, OWNERS), providerId: pick(r, PROVIDERS), prompt: 'seed' })).task.id);
  const ops = Array.from({ length: n }, () => {
    const kind = r();
    const id = pick(r, ids);
    const status = pick(r, FINAL);
    const owner = pick(r, OWNERS);
    const provider = pick(r, PROVIDERS);
    const queued = Math.floor(r() * 20_000) / 1000;
    const ran = Math.floor(r() * 200_000) / 1000;
    const cost = status === 'COMPLETED' && r() < 0.8 ? Math.round(r() * 100) / 100 : null;
    const currency = cost === null ? null : pick(r, ['USD', 'EUR']);
    return async () => {
      if (kind < 0.3) {
        ids.push((await createTask(db, { owner, providerId: provider, prompt: 'more' })).task.id);
      } else if (kind < 0.75) {
        await db.execute(
          sql`update tasks set status = ${status}, started_at = created_at + ${queued} * interval '1 second',
              completed_at = created_at + ${queued + ran} * interval '1 second', cost_amount = ${cost}, cost_currency = ${currency}
              where id = ${id}::uuid and status in ('QUEUED', 'PROCESSING')`,
        );
      } else if (kind < 0.9) {
        const at = new Date(Date.now() - Math.floor(r() * 5 * 86_400_000));
        await db.insert(tasks).values({
          owner,
          providerId: provider,
          prompt: 'finished already',
          status,
          createdAt: at,
          startedAt: status === 'CANCELLED' && r() < 0.5 ? null : new Date(at.getTime() + queued * 1000),
          completedAt: new Date(at.getTime() + (queued + ran) * 1000),
          costAmount: cost,
          costCurrency: currency,
        });
      } else {
        await db.execute(sql`update tasks set status = 'PROCESSING', progress = ${r()} where id = ${id}::uuid and status = 'QUEUED'`);
      }
    };
  });
  await Promise.all(ops.map((op) => op()));
}

describe.each(kinds)('task history on %s', (kind) => {
  let store: TestStore;
  beforeEach(async () => {
    store = await openTestStore(kind);
  });
  afterEach(async () => {
    await store.close();
  });

  it('matches a scan under concurrent finishes, with deltas not rolled up, partly and fully rolled up', async () => {
    const db = store.database.db;
    let writing = true;
    const rolling = (async () => {
      while (writing) await rollUpHistory(db, 7);
    })();
    await concurrentFinishes(db, 300, 1);
    writing = false;
    await rolling;
    await concurrentFinishes(db, 100, 2);
    expect(await pendingDeltas(db)).toBeGreaterThan(0);
    await expectHistoryMatchesScan(db);
    await expectSeriesMatchScan(db);
    await rollUpHistory(db, 5);
    await expectHistoryMatchesScan(db);
    await expectSeriesFollowsHistory(db);
    while ((await rollUpHistory(db)) > 0);
    expect(await pendingDeltas(db)).toBe(0);
    await expectHistoryMatchesScan(db);
    await expectSeriesMatchScan(db);
    await expectSeriesFollowsHistory(db);
    expect(await seriesRows(db)).toBeGreaterThan(0);
  });

  it('series sums (task_series) are filled once on a history that had none, and follow every roll-up after', async () => {
    const db = store.database.db;
    await concurrentFinishes(db, 150, 4);
    // A deployment upgraded from before task_series: the history is there, the sums are not.
    await db.execute(sql`delete from maintenance_done where name = ${SERIES_FILL}`);
    await db.execute(sql`truncate task_series`);
    while ((await rollUpHistory(db)) > 0); // the triggers do nothing until the fill
    expect(await seriesRows(db)).toBe(0);
    await expectSeriesMatchScan(db); // from task_history meanwhile
    await concurrentFinishes(db, 60, 5);
    expect(await fillHistorySeries(db)).toBe(true);
    expect(await fillHistorySeries(db)).toBe(false);
    await expectSeriesFollowsHistory(db);
    await expectSeriesMatchScan(db);
    await concurrentFinishes(db, 60, 6);
    while ((await rollUpHistory(db, 9)) > 0);
    await expectSeriesFollowsHistory(db);
    await expectSeriesMatchScan(db);
    // Rows of task_history deleted or changed by hand: the sums follow (statement triggers on each).
    await db.execute(sql`delete from task_history where provider_id = 'p2' and span = 'hour'`);
    await db.execute(sql`update task_history set tasks = tasks + 1, run_hist = hist_add(run_hist, '{1}') where provider_id = 'p1' and span = 'day'`);
    await expectSeriesFollowsHistory(db);
    // Series without a provider or model filter read the sums; with one, task_history.
    await db.execute(sql`update task_series set tasks = tasks + 1000 where span = 'day'`);
    const total = async (filter: TaskFilter, source?: 'history') =>
      (await getStatsSeries(db, null, filter, 'day', 7, new Date(), source)).reduce((n, b) => n + b.total, 0);
    expect(await total({})).toBeGreaterThanOrEqual((await total({}, 'history')) + 1000);
    expect(await total({ provider: 'p1' })).toBe(await total({ provider: 'p1' }, 'history'));
  });

  it('back-fill folds the tasks finished before the history existed, once, while finishes go on', async () => {
    const db = store.database.db;
    await db.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`);
      await tx.insert(tasks).values(
        Array.from({ length: 450 }, (_, i) => ({
          owner: OWNERS[i % 2]!,
          providerId: PROVIDERS[i % 3 ? 0 : 1]!,
          prompt: `old ${i}`,
          status: (['QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const)[i % 5]!,
          startedAt: i % 5 ? new Date(Date.now() - 60_000) : null,
          completedAt: i % 5 >= 2 ? new Date(Date.now() - 60_000 + i * 70) : null,
          costAmount: i % 5 === 2 ? 0.25 : null,
          costCurrency: i % 5 === 2 ? 'USD' : null,
        })),
      );
    });
    await db.execute(sql`delete from maintenance_done where name = 'task_history'`);
    await db.execute(sql`truncate task_history, task_history_deltas`);
    const [folded] = await Promise.all([backfillHistory(db), concurrentFinishes(db, 150, 3)]);
    expect(folded).toBeGreaterThanOrEqual(270);
    expect(await backfillHistory(db)).toBeNull();
    await expectHistoryMatchesScan(db);
    await expectSeriesFollowsHistory(db);
    while ((await rollUpHistory(db)) > 0);
    await expectHistoryMatchesScan(db);
    await expectSeriesMatchScan(db);
    await expectSeriesFollowsHistory(db);
    const stats = await getFinishedStats(db, 'ann');
    expect(stats.cost.find((c) => c.currency === 'USD')!.amount).toBeGreaterThanOrEqual(45 * 0.25 - 1e-9);
  });

  it('keeps the history of deleted tasks', async () => {
    const db = store.database.db;
    const done = await store.addTask({ owner: 'ann', providerId: 'p1' });
    await db.execute(sql`update tasks set status = 'COMPLETED', started_at = created_at, completed_at = created_at + interval '3 seconds', cost_amount = 1.5, cost_currency = 'USD' where id = ${done.id}::uuid`);
    const before = await getFinishedStats(db, 'ann');
    expect(before.cost).toEqual([{ amount: 1.5, currency: 'USD' }]);
    expect(await deleteTerminalTask(db, done.id, 'ann')).toBeDefined();
    expect(await getFinishedStats(db, 'ann')).toEqual(before);
    while ((await rollUpHistory(db)) > 0);
    expect(await getFinishedStats(db, 'ann')).toEqual(before);
    // A finished task's later changes are not counted again.
    const other = await store.addTask({ owner: 'ann', providerId: 'p1' });
    await db.execute(sql`update tasks set status = 'FAILED', completed_at = now() where id = ${other.id}::uuid`);
    await db.execute(sql`update tasks set status = 'CANCELLED' where id = ${other.id}::uuid`);
    expect(normalize(await readFinishedTotals(db, 'ann'))).toMatchObject({ 'p1/FAILED/': { tasks: 1 } });
    expect(normalize(await readFinishedTotals(db, 'ann'))['p1/CANCELLED/']).toBeUndefined();
  });

  it('percentiles from the histograms are within 5 % of the exact ones', async () => {
    const db = store.database.db;
    const base = Date.now() - 3_600_000;
    // Run times 1..200 s, queue waits 0.5..100 s, shuffled over the rows.
    await db.insert(tasks).values(
      Array.from({ length: 200 }, (_, i) => ({
        owner: 'perc',
        providerId: 'p1',
        prompt: `p ${i}`,
        status: 'COMPLETED' as const,
        createdAt: new Date(base),
        startedAt: new Date(base + ((i * 37) % 200) * 500 + 500),
        completedAt: new Date(base + ((i * 37) % 200) * 500 + 500 + (i + 1) * 1000),
      })),
    );
    const near = (got: number | null, want: number) => {
      expect(got).not.toBeNull();
      expect(Math.abs(got! - want) / want, `${got} vs ${want}`).toBeLessThanOrEqual(0.05);
    };
    for (const rolled of [false, true]) {
      if (rolled) while ((await rollUpHistory(db)) > 0);
      const s = await getFinishedStats(db, 'perc');
      near(s.p50DurationSeconds, 100);
      near(s.p95DurationSeconds, 190);
      near(s.p50QueueSeconds, 50);
    }
    // The JS layout agrees with the SQL one.
    const [row] = await execRows<{ b: number }>(db, sql`select hist_bucket(123456) as b`);
    expect(Number(row!.b) - 1).toBe(bucketOf(123456));
    expect(quantileSeconds([], 0.5)).toBeNull();
  });

  it('series count per UTC hour and day by finish time, every period present', async () => {
    const db = store.database.db;
    const now = new Date('2026-03-10T15:30:00Z');
    const at = (iso: string, seconds: number, status: TaskStatus, cost: number | null) => ({
      owner: 'ser',
      providerId: 'p1',
      prompt: iso,
      status,
      createdAt: new Date(new Date(iso).getTime() - seconds * 1000),
      startedAt: new Date(new Date(iso).getTime() - seconds * 1000),
      completedAt: new Date(iso),
      costAmount: cost,
      costCurrency: cost === null ? null : 'USD',
    });
    await db.insert(tasks).values([
      at('2026-03-10T15:10:00Z', 10, 'COMPLETED', 1),
      at('2026-03-10T15:20:00Z', 20, 'FAILED', null),
      at('2026-03-10T14:59:59Z', 30, 'COMPLETED', 2),
      at('2026-03-10T13:00:00Z', 40, 'CANCELLED', null),
      at('2026-03-09T23:00:00Z', 50, 'COMPLETED', 4),
      at('2026-03-08T01:00:00Z', 60, 'COMPLETED', 8),
      at('2026-02-01T01:00:00Z', 60, 'COMPLETED', 16), // outside both series
    ]);
    for (const rolled of [false, true]) {
      if (rolled) while ((await rollUpHistory(db)) > 0);
      const hours = await getStatsSeries(db, 'ser', {}, 'hour', 3, now);
      expect(hours.map((b) => [b.start.toISOString(), b.total, b.completed, b.failed, b.cancelled, b.successRate, b.cost])).toEqual([
        ['2026-03-10T13:00:00.000Z', 1, 0, 0, 1, null, []],
        ['2026-03-10T14:00:00.000Z', 1, 1, 0, 0, 1, [{ amount: 2, currency: 'USD' }]],
        ['2026-03-10T15:00:00.000Z', 2, 1, 1, 0, 0.5, [{ amount: 1, currency: 'USD' }]],
      ]);
      expect(hours[2]!.p50DurationSeconds).toBeCloseTo(10, -0.5);
      const days = await getStatsSeries(db, 'ser', {}, 'day', 4, now);
      expect(days.map((b) => [b.start.toISOString(), b.total, b.completed, b.cost])).toEqual([
        ['2026-03-07T00:00:00.000Z', 0, 0, []],
        ['2026-03-08T00:00:00.000Z', 1, 1, [{ amount: 8, currency: 'USD' }]],
        ['2026-03-09T00:00:00.000Z', 1, 1, [{ amount: 4, currency: 'USD' }]],
        ['2026-03-10T00:00:00.000Z', 4, 2, [{ amount: 3, currency: 'USD' }]],
      ]);
      const failedOnly = await getStatsSeries(db, 'ser', { status: ['FAILED'] }, 'day', 1, now);
      expect(failedOnly.map((b) => b.total)).toEqual([1]);
      expect((await getStatsSeries(db, 'nobody', {}, 'hour', 2, now)).map((b) => b.total)).toEqual([0, 0]);
    }
  });
});
