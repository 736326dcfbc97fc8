// Reads of the finished tasks' history for `stats` (percentiles, costs, series)
// and the spend cap: the rolled-up task_history rows (for series without a
// provider or model filter, their sums over those, task_series) plus the deltas
// not rolled up yet (task_history_deltas), in one statement, hence one snapshot
// (a roll-up moves deltas in one transaction: a reader sees either side, never both).
// Until the back-fill is done, and for filters the history cannot answer (a
// creation-time window, a prompt search), the same figures come from a scan
// of the matching finished tasks instead.
import { sql, type SQL } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { parseHistogram, type Histogram } from './histogram.js';
import { finishedTasksAsDeltas, HISTORY_BACKFILL, SERIES_FILL } from './roll-up-history.js';
import { maintenanceDone, taskHistory, taskHistoryDeltas, taskSeries, type TaskStatus } from './schema.js';
import { taskConditions, type TaskFilter } from './task-filter.js';

/** Finished tasks of one provider × final status × currency ('' when not priced), possibly of one period. */
export interface FinishedGroup {
  /** The period's start (ms since the epoch); 0 for totals. */
  start: number;
  providerId: string;
  status: TaskStatus;
  currency: string;
  tasks: number;
  cost: number;
  /** Durations of completed tasks and queue waits of tasks that started (src/db/histogram.ts). */
  runHist: Histogram;
  queueHist: Histogram;
}

export type SeriesSpan = 'hour' | 'day';

/** True once the history is back-filled (SQL, for use inside a statement). */
const historyIsReady = sql`exists (select 1 from ${maintenanceDone} where name = ${HISTORY_BACKFILL})`;
/** True once task_series is filled (it is only ever filled after the history). */
const seriesIsReady = sql`exists (select 1 from ${maintenanceDone} where name = ${SERIES_FILL})`;

/** Whether the history can answer this filter (status, provider and model only). */
export function historyAnswers(filter: TaskFilter = {}): boolean {
  return !filter.createdAfter && !filter.createdBefore && !filter.search?.trim();
}

/** Conditions on task_history / task_history_deltas rows (same column names). */
function keyConditions(owner: string | null, filter: TaskFilter): SQL {
  const conds: SQL[] = [owner === null ? sql`true` : sql`owner = ${owner}`];
  if (filter.provider) conds.push(sql`provider_id = ${filter.provider}`);
  if (filter.model) conds.push(sql`model = ${filter.model}`);
  if (filter.status?.length) conds.push(sql`status in (${sql.join(filter.status.map((s) => sql`${s}::task_status`), sql`, `)})`);
  return sql.join(conds, sql` and `);
}

/**
 * Delta-shaped rows (`source` filtered by `where`) grouped per provider ×
 * status × currency and, with `span`, per period; histograms built from
 * counts per bucket (hist_from once per group). Parenthesized: it can stand
 * in a UNION ALL.
 */
function groupDeltas(source: SQL, where: SQL, span?: SeriesSpan): SQL {
  const start = span ? sql`extract(epoch from date_trunc(${span}, finished_at, 'UTC'))::float8 * 1000` : sql`0::float8`;
  return sql`(with d as materialized (
      select ${start} as start, provider_id, status, currency, cost, hist_bucket(run_ms) as rb, hist_bucket(queue_ms) as qb from ${source} d where ${where}
    )
    select k.start, k.provider_id, k.status, k.currency, k.tasks, k.cost, coalesce(h.run_hist, '{}') as run_hist, coalesce(h.queue_hist, '{}') as queue_hist
    from (select start, provider_id, status, currency, count(*)::float8 as tasks, sum(cost)::float8 as cost from d group by 1, 2, 3, 4) k
    left join (
      select start, provider_id, status, currency,
        hist_from(array_agg(b) filter (where h = 'r'), array_agg(n) filter (where h = 'r'))::text as run_hist,
        hist_from(array_agg(b) filter (where h = 'q'), array_agg(n) filter (where h = 'q'))::text as queue_hist
      from (
        select start, provider_id, status, currency, 'r'::text as h, rb as b, count(*) as n from d where rb is not null group by 1, 2, 3, 4, 5, 6
        union all
        select start, provider_id, status, currency, 'q'::text as h, qb as b, count(*) as n from d where qb is not null group by 1, 2, 3, 4, 5, 6
      ) bs
      group by 1, 2, 3, 4
    ) h using (start, provider_id, status, currency))`;
}

interface Row {
  ready: boolean;
  start: number | null;
  provider_id: string | null;
  status: TaskStatus;
  currency: string;
  tasks: number;
  cost: number;
  run_hist: string;
  queue_hist: string;
}

async function read(db: DbOrTx, groups: SQL, gated: boolean): Promise<FinishedGroup[] | null> {
  const rows = await execRows<Row>(
    db,
    gated
      ? sql`select r.ready, g.* from (select ${historyIsReady} as ready) r left join (${groups}) g on r.ready`
      : sql`select true as ready, g.* from (${groups}) g`,
  );
  if (!rows.length) return gated ? null : [];
  if (!rows[0]!.ready) return null;
  return rows
    .filter((r) => r.provider_id !== null)
    .map((r) => ({
      start: Number(r.start),
      providerId: r.provider_id!,
      status: r.status,
      currency: r.currency,
      tasks: Number(r.tasks),
      cost: Number(r.cost),
      runHist: parseHistogram(r.run_hist),
      queueHist: parseHistogram(r.queue_hist),
    }));
}

/**
 * The owner's finished tasks (null: every owner's) matching the filter, per
 * provider × status × currency: from the history's totals when it can answer
 * the filter and is back-filled, else from a scan of the finished tasks.
 */
export async function readFinishedTotals(db: DbOrTx, owner: string | null, filter: TaskFilter = {}): Promise<FinishedGroup[]> {
  if (historyAnswers(filter)) {
    const where = keyConditions(owner, filter);
    const fromHistory = await read(
      db,
      sql`select 0::float8 as start, provider_id, status, currency, tasks::float8 as tasks, cost, run_hist::text as run_hist, queue_hist::text as queue_hist
          from ${taskHistory} where span = 'all' and ${where}
          union all
          ${groupDeltas(sql`${taskHistoryDeltas}`, where)}`,
      true,
    );
    if (fromHistory) return fromHistory;
  }
  return (await read(db, groupDeltas(sql`(${finishedTasksAsDeltas(taskConditions(owner, filter))})`, sql`true`), false))!;
}

/**
 * Where series come from: 'auto' is the cheapest that can answer (task_series
 * when filled and the filter names no provider or model, else task_history,
 * else a scan while the history is not back-filled); 'history' skips
 * task_series, 'scan' reads the tasks (tests and the benchmark compare them).
 */
export type SeriesSource = 'auto' | 'history' | 'scan';

/**
 * The owner's finished tasks per `span` (UTC hours or days, by when they
 * finished) from `from` on, per status × currency and, unless they come from
 * task_series (providerId ''), per provider; the filter's provider, model and
 * status apply.
 */
export async function readFinishedSeries(db: DbOrTx, owner: string | null, filter: TaskFilter, span: SeriesSpan, from: Date, source: SeriesSource = 'auto'): Promise<FinishedGroup[]> {
  const keyFilter = { provider: filter.provider, model: filter.model, status: filter.status };
  const since = from.toISOString();
  if (source !== 'scan') {
    const where = keyConditions(owner, keyFilter);
    const inPeriods = sql`span = ${span} and start >= ${since}::timestamptz and ${where}`;
    const hist = sql`select extract(epoch from start)::float8 * 1000 as start, provider_id, status, currency, tasks::float8 as tasks, cost, run_hist::text as run_hist, '{}'::text as queue_hist
        from ${taskHistory} where ${inPeriods}`;
    // task_series has no provider or model: it answers only filters without them. Both
    // branches are in the statement; the one the fill flag rules out is never run.
    const rolledUp =
      source === 'auto' && !filter.provider && !filter.model
        ? sql`select extract(epoch from start)::float8 * 1000 as start, ''::text as provider_id, status, currency, tasks::float8 as tasks, cost, run_hist::text as run_hist, '{}'::text as queue_hist
            from ${taskSeries} where ${seriesIsReady} and ${inPeriods}
            union all
            ${hist} and not ${seriesIsReady}`
        : hist;
    const fromHistory = await read(
      db,
      sql`${rolledUp}
        union all
        ${groupDeltas(sql`${taskHistoryDeltas}`, sql`${where} and finished_at >= ${since}::timestamptz`, span)}`,
      true,
    );
    if (fromHistory) return fromHistory;
  }
  const scan = sql`(${finishedTasksAsDeltas(taskConditions(owner, keyFilter))})`;
  return (await read(db, groupDeltas(scan, sql`finished_at >= ${since}::timestamptz`, span), false))!;
}

/** What `owner`'s tasks that finished since the start of this UTC day cost, all currencies added up. */
export function spentTodaySql(owner: string): SQL {
  const today = sql`date_trunc('day', now(), 'UTC')`;
  return sql`(select coalesce(sum(cost), 0)::float8 from (
      select cost from ${taskHistory} where owner = ${owner} and span = 'day' and start = ${today}
      union all
      select cost from ${taskHistoryDeltas} where owner = ${owner} and finished_at >= ${today}
    ) s)`;
}
