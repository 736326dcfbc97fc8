// Money and stats through the real server, on PGlite and Postgres: costs priced
// from the providers' pricing (perVideo, perSecond on the result's duration,
// perModel) and recorded on the task when it completes (a later price change
// does not rewrite them; failed tasks cost nothing), stats.cost per currency and
// per provider, with a time window; percentiles; series per UTC hour and day;
// the daily spend cap (SPEND_LIMIT); argument limits; and stats that read
// counters and history only, never the tasks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeysArgs, runKeysCommand } from '../../src/keys/commands.js';
import { tasks } from '../../src/db/schema.js';
import { startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { until } from '../support/wait.js';

const kinds = await databaseKinds();
const ALICE = 'alice-key-123456';
const SERIES = 'series-key-12345';
const PERC = 'perc-key-1234567';
const OPS = 'ops-key-12345678';

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id createdAt } }
      ... on Error { code message }
      ... on RateLimitedError { retryAfterSeconds }
    }
  }
`;
const TASK = `query($id: ID!) { task(id: $id) { id status cost { amount currency } result { durationSeconds } } }`;
const STATS = /* GraphQL */ `
  query($filter: TaskFilter) {
    stats(filter: $filter) {
      total completed failed p50DurationSeconds p95DurationSeconds p50QueueSeconds
      cost { amount currency }
      byProvider { provider total cost { amount currency } }
    }
  }
`;

describe.each(kinds)('money and stats on %s', (kind) => {
  let emu: TasksApiEmulator;
  let t: TestApp;

  beforeAll(async () => {
    emu = await startTasksApiEmulator({ processingAfterMs: 20, completeAfterMs: 150 });
    const upstream = { kind: 'tasks-api', baseUrl: emu.baseUrl, pollIntervalMs: 50, maxConcurrency: 8 };
    t = await startTestApp({
      db: kind,
      env: { REELAY_API_KEYS: `alice:${ALICE},series:${SERIES},perc:${PERC}`, REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '0', REELAY_ADMIN_KEYS: `ops:${OPS}` },
      providers: [
        { id: 'tasks', ...upstream, models: ['std', 'pro'], pricing: { currency: 'USD', perVideo: 0.5, perSecond: 0.1, perModel: { pro: { perVideo: 2 } } } },
        { id: 'eu', ...upstream, pricing: { currency: 'EUR', perSecond: 0.25 } },
        { id: 'free', ...upstream },
      ],
      defaultProvider: 'tasks',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
  });

  async function create(key: string, input: Record<string, unknown>) {
    const res = (await t.gql(CREATE, { input }, key)).data!.createVideoTask;
    return res;
  }

  /** Create a task and wait until it is final; returns it with its cost. */
  async function finished(key: string, input: Record<string, unknown>) {
    const created = await create(key, input);
    expect(created.__typename, JSON.stringify(created)).toBe('CreateVideoTaskSuccess');
    const task = await until(async () => (await t.gql(TASK, { id: created.task.id }, key)).data!.task, (v) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(v.status), 30_000, 30);
    return { ...task, createdAt: created.task.createdAt as string };
  }

  it('prices completed tasks from the pricing (perVideo + perSecond × the result\'s seconds, perModel), keeps the price, and sums stats.cost per currency and provider', async () => {
    // The emulator's videos last 1 s (probed), whatever was asked for.
    const std = await finished(ALICE, { prompt: 'std', provider: 'tasks', model: 'std' });
    expect(std.status).toBe('COMPLETED');
    expect(std.result.durationSeconds).toBeCloseTo(1, 1);
    expect(std.cost.currency).toBe('USD');
    expect(std.cost.amount).toBeCloseTo(0.5 + 0.1 * std.result.durationSeconds, 6);
    const pro = await finished(ALICE, { prompt: 'pro', provider: 'tasks', model: 'pro' });
    expect(pro.cost).toEqual({ amount: 2, currency: 'USD' });
    const eu = await finished(ALICE, { prompt: 'eu', provider: 'eu' });
    expect(eu.cost.currency).toBe('EUR');
    expect(eu.cost.amount).toBeCloseTo(0.25 * eu.result.durationSeconds, 6);
    const free = await finished(ALICE, { prompt: 'free', provider: 'free' });
    expect(free.status).toBe('COMPLETED');
    expect(free.cost).toBeNull();
    const failed = await finished(ALICE, { prompt: 'this one [fail]s', provider: 'tasks' });
    expect(failed.status).toBe('FAILED');
    expect(failed.cost).toEqual({ amount: 0, currency: 'USD' });

    const usd = std.cost.amount + 2;
    const stats = (await t.gql(STATS, {}, ALICE)).data!.stats;
    expect(stats).toMatchObject({ total: 5, completed: 4, failed: 1 });
    expect(stats.cost).toHaveLength(2);
    expect(stats.cost[0]).toMatchObject({ currency: 'EUR' });
    expect(stats.cost[0].amount).toBeCloseTo(eu.cost.amount, 6);
    expect(stats.cost[1]).toMatchObject({ currency: 'USD' });
    expect(stats.cost[1].amount).toBeCloseTo(usd, 6);
    const byProvider = Object.fromEntries(stats.byProvider.map((p: { provider: string; cost: unknown }) => [p.provider, p.cost]));
    expect(byProvider.free).toEqual([]);
    expect(byProvider.eu).toEqual([eu.cost]);
    expect((byProvider.tasks as Array<{ amount: number }>)[0]!.amount).toBeCloseTo(usd, 6);
    expect(stats.p50DurationSeconds).toBeGreaterThan(0);
    expect(stats.p95DurationSeconds).toBeGreaterThanOrEqual(stats.p50DurationSeconds);
    expect(stats.p50QueueSeconds).not.toBeNull();
    // The provider filter.
    const onlyEu = (await t.gql(STATS, { filter: { provider: 'eu' } }, ALICE)).data!.stats;
    expect(onlyEu.cost).toEqual([eu.cost]);
    // Status filter: failed tasks cost nothing.
    expect((await t.gql(STATS, { filter: { status: ['FAILED'] } }, ALICE)).data!.stats.cost).toEqual([]);

    // A price change applies to tasks completed from then on; recorded costs stay.
    t.app.services.registry.get('tasks')!.config.pricing = { currency: 'USD', perVideo: 10 };
    const later = await finished(ALICE, { prompt: 'after the change', provider: 'tasks', model: 'pro' });
    expect(later.cost).toEqual({ amount: 10, currency: 'USD' });
    expect((await t.gql(TASK, { id: pro.id }, ALICE)).data!.task.cost).toEqual({ amount: 2, currency: 'USD' });
    const after = (await t.gql(STATS, {}, ALICE)).data!.stats;
    expect(after.cost.find((c: { currency: string }) => c.currency === 'USD').amount).toBeCloseTo(usd + 10, 6);
    // A time window (by creation) counts only the tasks created in it.
    const windowed = (await t.gql(STATS, { filter: { createdAfter: later.createdAt } }, ALICE)).data!.stats;
    expect(windowed).toMatchObject({ total: 1, completed: 1, cost: [{ amount: 10, currency: 'USD' }] });
    const before = (await t.gql(STATS, { filter: { createdBefore: later.createdAt } }, ALICE)).data!.stats;
    expect(before.total).toBe(5);
    expect(before.cost.find((c: { currency: string }) => c.currency === 'USD').amount).toBeCloseTo(usd, 6);
    t.app.services.registry.get('tasks')!.config.pricing = { currency: 'USD', perVideo: 0.5, perSecond: 0.1, perModel: { pro: { perVideo: 2 } } };
  });

  it('refuses creates with SPEND_LIMIT once the day\'s finished tasks cost the key\'s cap', async () => {
    // `npm run keys -- create NAME --max-spend-per-day 1`, and `list` shows the cap.
    const created = await runKeysCommand(t.app.services.database.db, parseKeysArgs(['create', 'capped', '--max-spend-per-day', '1']));
    expect(created.code).toBe(0);
    const key = /\n(rly_[A-Za-z0-9_-]+)/.exec(created.stdout)![1]!;
    expect((await runKeysCommand(t.app.services.database.db, parseKeysArgs(['list']))).stdout).toMatch(/^capped\t.*\tactive\tmax-active default, per-minute default, max-spend-per-day 1$/m);
    const first = await finished(key, { prompt: 'one', provider: 'tasks', model: 'std' });
    expect(first.cost.amount).toBeGreaterThan(0.5);
    // 0.6 spent, under the cap of 1.
    const second = await finished(key, { prompt: 'two', provider: 'tasks', model: 'std' });
    expect(second.status).toBe('COMPLETED');
    const refused = await create(key, { prompt: 'three', provider: 'tasks' });
    expect(refused).toMatchObject({ __typename: 'RateLimitedError', code: 'SPEND_LIMIT' });
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(86_400);
    // Other keys are not affected.
    expect((await create(ALICE, { prompt: 'alice goes on', provider: 'free' })).__typename).toBe('CreateVideoTaskSuccess');
  });

  it('series per UTC hour and day count the tasks that finished in each, with percentiles and cost', async () => {
    const db = t.app.services.database.db;
    const now = Date.now();
    const finishedAt = [0, 10 * 60_000, 3_600_000 + 1000, 2 * 3_600_000 + 1000, 26 * 3_600_000, 50 * 3_600_000].map((ago) => new Date(now - ago));
    await db.insert(tasks).values(
      finishedAt.map((at, i) => ({
        owner: 'series',
        providerId: 'tasks',
        prompt: `at ${at.toISOString()}`,
        status: i % 3 === 2 ? ('FAILED' as const) : ('COMPLETED' as const),
        createdAt: new Date(at.getTime() - 20_000),
        startedAt: new Date(at.getTime() - 10_000),
        completedAt: at,
        costAmount: i % 3 === 2 ? null : 1,
        costCurrency: i % 3 === 2 ? null : 'USD',
      })),
    );
    const SERIES_QUERY = `query($bucket: StatsBucketSize!, $last: Int!) { stats { series(bucket: $bucket, last: $last) { start total completed failed successRate p50DurationSeconds cost { amount currency } } } }`;
    for (const [bucket, last, size] of [['HOUR', 4, 3_600_000], ['DAY', 3, 86_400_000]] as const) {
      const res = await t.gql(SERIES_QUERY, { bucket, last }, SERIES);
      expect(res.errors).toBeUndefined();
      const series = res.data!.stats.series as Array<{ start: string; total: number; completed: number; failed: number; successRate: number | null; p50DurationSeconds: number | null; cost: unknown[] }>;
      expect(series).toHaveLength(last);
      series.forEach((b, i) => {
        const start = Date.parse(b.start);
        expect(start % size).toBe(0);
        if (i) expect(start - Date.parse(series[i - 1]!.start)).toBe(size);
        const inside = finishedAt.map((at, j) => ({ at: at.getTime(), j })).filter(({ at }) => at >= start && at < start + size);
        const completed = inside.filter(({ j }) => j % 3 !== 2).length;
        expect(b, `${bucket} ${b.start}`).toMatchObject({ total: inside.length, completed, failed: inside.length - completed, cost: completed ? [{ amount: completed, currency: 'USD' }] : [] });
        if (completed) expect(Math.abs(b.p50DurationSeconds! - 10) / 10).toBeLessThanOrEqual(0.05);
        else expect(b.p50DurationSeconds).toBeNull();
      });
      expect(Date.parse(series[last - 1]!.start)).toBeLessThanOrEqual(Date.now());
      expect(Date.parse(series[last - 1]!.start) + size).toBeGreaterThan(now);
    }
  });

  it('p50 / p95 of run times and p50 of queue waits from a known distribution, within 5 %', async () => {
    const db = t.app.services.database.db;
    const base = Date.now() - 7_200_000;
    // Run times 1..100 s, queue waits 1..100 s (in another order).
    await db.insert(tasks).values(
      Array.from({ length: 100 }, (_, i) => ({
        owner: 'perc',
        providerId: 'free',
        prompt: `p ${i}`,
        status: 'COMPLETED' as const,
        createdAt: new Date(base),
        startedAt: new Date(base + (((i * 7) % 100) + 1) * 1000),
        completedAt: new Date(base + (((i * 7) % 100) + 1) * 1000 + (i + 1) * 1000),
      })),
    );
    const stats = (await t.gql(`{ stats { completed p50DurationSeconds p95DurationSeconds p50QueueSeconds } }`, {}, PERC)).data!.stats;
    expect(stats.completed).toBe(100);
    for (const [got, want] of [[stats.p50DurationSeconds, 50], [stats.p95DurationSeconds, 95], [stats.p50QueueSeconds, 50]] as const) {
      expect(Math.abs(got - want) / want, `${got} vs ${want}`).toBeLessThanOrEqual(0.05);
    }
  });

  it('refuses series beyond 168 hours or 90 days with BAD_USER_INPUT', async () => {
    const q = `query($bucket: StatsBucketSize!, $last: Int!) { stats { series(bucket: $bucket, last: $last) { start } } }`;
    for (const [bucket, last] of [['HOUR', 169], ['DAY', 91], ['HOUR', 0], ['DAY', -1]] as const) {
      const res = await t.gql(q, { bucket, last }, ALICE);
      expect(res.errors?.[0]?.extensions?.code, `${bucket} ${last}`).toBe('BAD_USER_INPUT');
      expect(res.errors?.[0]?.extensions?.field).toBe('last');
    }
    expect((await t.gql(q, { bucket: 'HOUR', last: 168 }, ALICE)).data!.stats.series).toHaveLength(168);
    expect((await t.gql(q, { bucket: 'DAY', last: 90 }, ALICE)).data!.stats.series).toHaveLength(90);
  });

  it('stats, unfiltered and by provider, read counters and history only: no query touches tasks; operator keys see every owner\'s', async () => {
    const own = (await t.gql(STATS, {}, ALICE)).data!.stats.cost as Array<{ amount: number; currency: string }>;
    const q = `query($owner: String) { stats(owner: $owner) { cost { amount currency } } }`;
    expect((await t.gql(q, { owner: 'alice' }, OPS)).data!.stats.cost).toEqual(own);
    const everyone = (await t.gql(q, {}, OPS)).data!.stats.cost as Array<{ amount: number; currency: string }>;
    const usd = (c: Array<{ amount: number; currency: string }>) => c.find((m) => m.currency === 'USD')!.amount;
    expect(usd(everyone)).toBeGreaterThan(usd(own)); // the capped key's and the series owner's too
    for (const [filter, key] of [[null, ALICE], [{ provider: 'tasks' }, ALICE], [{ status: ['COMPLETED'] }, ALICE], [null, OPS]] as const) {
      const from = t.queries.length;
      const res = await t.gql(STATS, { filter }, key);
      expect(res.errors).toBeUndefined();
      const issued = t.queries.slice(from);
      expect(issued.some((q) => /task_history/.test(q))).toBe(true);
      // A scan would aggregate "tasks" per status or into histograms (task-stats.ts, read-history.ts); the runner's own queries do neither.
      expect(issued.filter((q) => /\b(from|join)\s+"?tasks"?(\s|$|\))/i.test(q) && /hist_agg|filter \(where/i.test(q))).toEqual([]);
    }
  });
});
