// Benchmark: reading a million tasks of one key (Postgres only). 1,000,000
// tasks + 2,000,000 events are seeded by SQL (generate_series) into a fresh
// database: created over 90 days, 70 % COMPLETED, 15 % FAILED, 5 % each
// CANCELLED / PROCESSING / QUEUED (50,000 queued), two providers. The counters
// are then back-filled and the online indexes built, both timed (what an
// upgrade of such a deployment costs). Each read is then sent over HTTP to the
// real server, one request at a time, and reported as p50 / p95, next to the
// figure issue 8 measured before the counters ("today") and, where one means
// something, the same answer computed by raw SQL the way it was before.
// `npm run bench -- million` runs it alone.
import postgres from 'postgres';
import { sql } from 'drizzle-orm';
import { buildOnlineIndexes, ONLINE_INDEXES } from '../src/db/online-indexes.js';
import { backfillCounts, COUNTS_BACKFILL } from '../src/db/roll-up-counts.js';
import { backfillHistory, HISTORY_BACKFILL } from '../src/db/roll-up-history.js';
import { getStatsSeries } from '../src/db/finished-stats.js';
import type { Money } from '../src/money.js';
import { scanQueuePositions } from '../test/support/queue-positions-scan.js';
import { openBench, OWNER, PROVIDER, type Bench } from './harness.js';
import { fmt, now, percentile, timed } from './stats.js';

export const MILLION = 1_000_000;
const OTHER_PROVIDER = 'other';
const WARMUP = 5;
const SAMPLES = 60;
const SLOW_SAMPLES = 8; // baselines that scan: hundreds of ms each

export interface MillionRow {
  what: string;
  p50: number;
  p95: number;
  samples: number;
  /** Issue 8's figure before this work (p50 ms). */
  today: string;
  wanted: string;
  baseline?: { what: string; p50: number; p95: number; samples: number };
}

export interface MillionResult {
  seedS: number;
  backfillS: number;
  indexesS: number;
  rows: MillionRow[];
}

export async function seed(url: string): Promise<void> {
  // One connection, triggers and FK checks off while seeding (session_replication_role):
  // the counters are back-filled afterwards, as on an upgraded deployment.
  const c = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await c`set session_replication_role = replica`;
    await c`set maintenance_work_mem = '256MB'`;
    await c.unsafe(`
      insert into tasks (owner, provider_id, model, prompt, params, status, progress, result, error_code, error_message,
                         attempts, created_at, updated_at, next_poll_at, started_at, completed_at)
      select '${OWNER}',
        case when i % 5 = 0 then '${OTHER_PROVIDER}' else '${PROVIDER}' end,
        case i % 3 when 0 then 'model-a' when 1 then 'model-b' end,
        'bench task ' || i || ' ' || md5(i::text),
        '{"durationSeconds": 5}'::jsonb,
        s.status,
        case when s.status = 'COMPLETED' then 1 end,
        case when s.status = 'COMPLETED' then jsonb_build_object('file', 'bench/' || i || '.mp4', 'upstreamUrl', null, 'contentType', 'video/mp4',
          'sizeBytes', 123456, 'durationSeconds', 5, 'width', 640, 'height', 360) end,
        case when s.status = 'FAILED' then 'UPSTREAM_ERROR' end,
        case when s.status = 'FAILED' then 'the upstream failed' end,
        case when s.status = 'QUEUED' then 0 else 1 end,
        t.at, t.at, t.at,
        case when s.status <> 'QUEUED' then t.at + interval '1 second' end,
        case when s.status in ('COMPLETED', 'FAILED', 'CANCELLED') then t.at + (10 + i % 50) * interval '1 second' end
      from generate_series(1, ${MILLION}) as i
      cross join lateral (select now() - interval '90 days' + i * (interval '90 days' / ${MILLION}) as at) t
      cross join lateral (select (case
        when abs(hashint4(i)) % 100 < 70 then 'COMPLETED' when abs(hashint4(i)) % 100 < 85 then 'FAILED'
        when abs(hashint4(i)) % 100 < 90 then 'CANCELLED' when abs(hashint4(i)) % 100 < 95 then 'PROCESSING' else 'QUEUED' end)::task_status as status) s`);
    await c.unsafe(`
      insert into task_events (task_id, status, progress, message, at)
      select id, 'QUEUED', null, 'queued for ' || provider_id, created_at from tasks
      union all
      select id, status, progress, 'now ' || lower(status::text), coalesce(completed_at, started_at, created_at) from tasks`);
    await c`set session_replication_role = origin`;
    await c`vacuum analyze tasks`;
    await c`vacuum analyze task_events`;
  } finally {
    await c.end({ timeout: 5 });
  }
}

async function measure(fn: () => Promise<unknown>, samples: number): Promise<{ p50: number; p95: number; samples: number }> {
  for (let i = 0; i < Math.min(WARMUP, samples); i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) ms.push(await timed(fn));
  return { p50: percentile(ms, 50), p95: percentile(ms, 95), samples };
}

export const PAGE_QUERY = `query($after: String) { tasks(first: 50, after: $after) { edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }`;
export const COUNT_QUERY = `query($filter: TaskFilter) { tasks(first: 50, filter: $filter) { totalCount edges { node { id status } } } }`;
export const FULL_QUERY = `query { tasks(first: 50) { edges { node {
  id status progress queuePosition estimatedSecondsRemaining estimatedCompletionAt prompt provider model params attempts createdAt updatedAt startedAt completedAt
  result { url upstreamUrl contentType sizeBytes durationSeconds width height } error { code message }
  events { status progress message at } } } } }`;
export const SERIES_QUERY = `query($bucket: StatsBucketSize!, $last: Int!) { stats { series(bucket: $bucket, last: $last) { start total completed failed successRate p50DurationSeconds cost { amount currency } } } }`;
export const QUEUED_QUERY = `query { tasks(first: 50, filter: { status: [QUEUED] }) { edges { node { id status queuePosition } } } }`;
const STATS_QUERY = `query($filter: TaskFilter) { stats(filter: $filter) { total queued processing completed failed cancelled successRate avgDurationSeconds byProvider { provider total completed failed } } }`;

export async function benchMillion(log: (line: string) => void = () => {}): Promise<MillionResult> {
  let b: Bench | undefined;
  const raw = { client: undefined as postgres.Sql | undefined };
  try {
    b = await openBench('postgres');
    const bench = b;
    const db = bench.database.db;
    await bench.database.maintenance;
    // Back to the state of a deployment before this version: no counters, no new indexes.
    await db.execute(sql`delete from maintenance_done where name in (${COUNTS_BACKFILL}, ${HISTORY_BACKFILL})`);
    for (const index of ONLINE_INDEXES) await db.execute(sql.raw(`drop index if exists ${index.name}`));
    const url = bench.config.databaseUrl!;
    let t0 = now();
    await seed(url);
    const seedS = (now() - t0) / 1000;
    log(`seeded ${MILLION} tasks + ${2 * MILLION} events in ${fmt(seedS, 1)} s`);
    t0 = now();
    await backfillCounts(db);
    const backfillS = (now() - t0) / 1000;
    log(`counters back-filled in ${fmt(backfillS, 1)} s`);
    t0 = now();
    await backfillHistory(db);
    log(`history of finished tasks back-filled in ${fmt((now() - t0) / 1000, 1)} s`);
    t0 = now();
    await buildOnlineIndexes(db, 'postgres');
    const indexesS = (now() - t0) / 1000;
    log(`${ONLINE_INDEXES.length} indexes built concurrently in ${fmt(indexesS, 1)} s`);
    await db.execute(sql`vacuum analyze tasks`);

    const client = (raw.client = postgres(url, { max: 1, onnotice: () => {}, connection: { jit: 'off' } }));
    const rows: MillionRow[] = [];
    const add = (row: MillionRow) => {
      rows.push(row);
      log(`${row.what}: p50 ${fmt(row.p50)} ms, p95 ${fmt(row.p95)} ms${row.baseline ? ` (baseline ${row.baseline.what}: p50 ${fmt(row.baseline.p50)} ms)` : ''}`);
    };

    // Lists: the first page, and the 21st reached by following cursors.
    type Page = { tasks: { edges: Array<{ cursor: string; node: { id: string; status: string } }>; pageInfo: { endCursor: string } } };
    let after: string | null = null;
    for (let i = 0; i < 20; i++) after = (await bench.gql<Page>(PAGE_QUERY, { after })).tasks.pageInfo.endCursor;
    const page21After = after;
    const keyset = (key: { at: string; id: string } | null) =>
      key
        ? client`select id, status, created_at from tasks where owner = ${OWNER} and (created_at, id) < (${key.at}::timestamptz, ${key.id}::uuid) order by created_at desc, id desc limit 51`
        : client`select id, status, created_at from tasks where owner = ${OWNER} order by created_at desc, id desc limit 51`;
    const [ms, id] = JSON.parse(Buffer.from(page21After!, 'base64url').toString()) as [number, string];
    add({
      what: 'tasks(first: 50) { cursor id status }',
      ...(await measure(() => bench.gql(PAGE_QUERY, { after: null }), SAMPLES)),
      today: '12',
      wanted: '≤ 10',
      baseline: { what: 'raw keyset SELECT', ...(await measure(() => keyset(null), SAMPLES)) },
    });
    add({
      what: 'page 21 (after: cursor of page 20)',
      ...(await measure(() => bench.gql(PAGE_QUERY, { after: page21After }), SAMPLES)),
      today: '10',
      wanted: '≤ 10',
      baseline: { what: 'raw keyset SELECT', ...(await measure(() => keyset({ at: new Date(ms).toISOString(), id }), SAMPLES)) },
    });

    // totalCount: all, FAILED, the last 24 h.
    const since = new Date(Date.now() - 86_400_000).toISOString();
    const counts: Array<[string, Record<string, unknown> | null, () => Promise<unknown>]> = [
      ['all', null, () => client`select count(*) from tasks where owner = ${OWNER}`],
      ['status: [FAILED]', { status: ['FAILED'] }, () => client`select count(*) from tasks where owner = ${OWNER} and status = 'FAILED'`],
      ['createdAfter: 24 h ago', { createdAfter: since }, () => client`select count(*) from tasks where owner = ${OWNER} and created_at >= ${since}::timestamptz`],
    ];
    for (const [label, filter, baseline] of counts) {
      add({
        what: `tasks(first: 50, ${label}) { totalCount id status }`,
        ...(await measure(() => bench.gql(COUNT_QUERY, { filter }), SAMPLES)),
        today: '278–342',
        wanted: '≤ 10',
        baseline: { what: 'raw count(*)', ...(await measure(baseline, label.startsWith('created') ? SAMPLES : SLOW_SAMPLES)) },
      });
    }

    // 50 full nodes: every field, events, result, queuePosition.
    const fullPage = async () => {
      const page = await client`select * from tasks where owner = ${OWNER} order by created_at desc, id desc limit 50`;
      const ids = page.map((r) => r.id as string);
      await client`select * from task_events where task_id = any(${ids}::uuid[]) order by task_id, id`;
      await scanQueuePositions(db, page.filter((r) => r.status === 'QUEUED').map((r) => r.id as string));
    };
    add({
      what: '50 full nodes with events, result, queuePosition',
      ...(await measure(() => bench.gql(FULL_QUERY), SAMPLES)),
      today: '108',
      wanted: '≤ 15',
      baseline: { what: 'raw SQL: page, events, queue positions as before', ...(await measure(fullPage, SLOW_SAMPLES)) },
    });

    // The QUEUED list with queuePosition (50,000 queued), checked against the former computation.
    type Queued = { tasks: { edges: Array<{ node: { id: string; queuePosition: number } }> } };
    const queued = (await bench.gql<Queued>(QUEUED_QUERY)).tasks.edges.map((e) => e.node);
    const oracle = await scanQueuePositions(db, queued.map((q) => q.id));
    if (queued.some((q) => oracle.get(q.id) !== q.queuePosition)) throw new Error('million: queuePosition differs from the former computation');
    add({
      what: 'tasks(status: [QUEUED]) { queuePosition } (50,000 queued)',
      ...(await measure(() => bench.gql(QUEUED_QUERY), SAMPLES)),
      today: '825',
      wanted: '≤ 10',
      baseline: { what: 'former queuePosition SQL on the same 50 ids', ...(await measure(() => scanQueuePositions(db, queued.map((q) => q.id)), SLOW_SAMPLES)) },
    });

    // stats, all and by provider, checked against a scan.
    const statsScan = (provider: string | null) =>
      client`select count(*) filter (where status = 'COMPLETED') as completed, count(*) filter (where status = 'FAILED') as failed, count(*) as total,
        avg(extract(epoch from (completed_at - coalesce(started_at, created_at)))) filter (where status = 'COMPLETED') as avg
        from tasks where owner = ${OWNER} and (${provider}::text is null or provider_id = ${provider})`;
    for (const provider of [null, PROVIDER]) {
      type Stats = { stats: { total: number; completed: number; avgDurationSeconds: number } };
      const got = (await bench.gql<Stats>(STATS_QUERY, { filter: provider ? { provider } : null })).stats;
      const [want] = await statsScan(provider);
      if (got.total !== Number(want!.total) || got.completed !== Number(want!.completed) || Math.abs(got.avgDurationSeconds - Number(want!.avg)) > 1e-6) {
        throw new Error(`million: stats differ from a scan: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
      }
      add({
        what: provider ? `stats(filter: { provider })` : 'stats',
        ...(await measure(() => bench.gql(STATS_QUERY, { filter: provider ? { provider } : null }), SAMPLES)),
        today: provider ? '754' : '788',
        wanted: '≤ 10',
        baseline: { what: 'raw aggregate scan', ...(await measure(() => statsScan(provider), SLOW_SAMPLES)) },
      });
    }

    // Issue 9's additions to stats must keep the same budget: percentiles and cost from the
    // history's histograms, and the chart series, never from a scan of the tasks (the series
    // are checked equal to one first).
    const MONEY_QUERY = `query($filter: TaskFilter) { stats(filter: $filter) { total completed p50DurationSeconds p95DurationSeconds p50QueueSeconds cost { amount currency } byProvider { provider cost { amount currency } } } }`;
    for (const provider of [null, PROVIDER]) {
      add({
        what: provider ? 'stats(filter: { provider }) with p50/p95/queue p50 and cost' : 'stats with p50/p95/queue p50 and cost',
        ...(await measure(() => bench.gql(MONEY_QUERY, { filter: provider ? { provider } : null }), SAMPLES)),
        today: 'new',
        wanted: '≤ 10',
      });
    }
    for (const [bucket, last] of [['HOUR', 168], ['DAY', 90]] as const) {
      await checkSeries(bench, SERIES_QUERY, bucket, last);
      add({
        what: `stats.series(bucket: ${bucket}, last: ${last})`,
        ...(await measure(() => bench.gql(SERIES_QUERY, { bucket, last }), SAMPLES)),
        today: 'new',
        wanted: '≤ 10',
      });
    }
    return { seedS, backfillS, indexesS, rows };
  } finally {
    await raw.client?.end({ timeout: 5 });
    await b?.close();
  }
}

type SeriesAnswer = { stats: { series: Array<{ start: string; total: number; completed: number; failed: number; successRate: number | null; p50DurationSeconds: number | null; cost: Money[] }> } };

/** The series over HTTP equals the same series computed from a scan of the tasks (once more if an hour ended in between). */
async function checkSeries(bench: Bench, query: string, bucket: 'HOUR' | 'DAY', last: number): Promise<void> {
  const span = bucket === 'HOUR' ? 'hour' : 'day';
  for (let attempt = 1; ; attempt++) {
    const scanned = (await getStatsSeries(bench.database.db, OWNER, {}, span, last, new Date(), 'scan')).map((b) => ({
      start: b.start.getTime(),
      total: b.total,
      completed: b.completed,
      failed: b.failed,
      successRate: b.successRate,
      p50DurationSeconds: b.p50DurationSeconds,
      cost: b.cost.map((c) => ({ amount: c.amount, currency: c.currency })),
    }));
    const got = (await bench.gql<SeriesAnswer>(query, { bucket, last })).stats.series.map((b) => ({ ...b, start: Date.parse(b.start) }));
    if (JSON.stringify(got) === JSON.stringify(scanned)) return;
    if (attempt === 2) throw new Error(`million: stats.series(${bucket}, ${last}) differs from a scan`);
  }
}

export function describeMillion(r: MillionResult): string[] {
  const lines = [
    `seed ${fmt(r.seedS, 1)} s; counter back-fill of ${MILLION.toLocaleString('en-US')} rows ${fmt(r.backfillS, 1)} s; ${ONLINE_INDEXES.length} indexes CONCURRENTLY ${fmt(r.indexesS, 1)} s`,
    '| read (1M tasks, HTTP, one at a time) | p50 ms | p95 ms | today p50 | wanted | baseline | baseline p50 / p95 ms |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const row of r.rows) {
    const b = row.baseline;
    lines.push(`| ${row.what} | ${fmt(row.p50)} | ${fmt(row.p95)} | ${row.today} | ${row.wanted} | ${b ? b.what : ''} | ${b ? `${fmt(b.p50)} / ${fmt(b.p95)}` : ''} |`);
  }
  return lines;
}

// Alone: `npx tsx bench/million.ts` (or `npm run bench -- million`).
if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = now();
  benchMillion((line) => console.log(`  ${line}`))
    .then((r) => {
      console.log(['', ...describeMillion(r)].join('\n'));
      console.log(`\n(${fmt((now() - t0) / 1000, 0)} s in all)`);
    })
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
