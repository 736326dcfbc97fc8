// The history of finished tasks (task_history): triggers on tasks append one
// task_history_deltas row per task reaching a final state (drizzle/0008_history.sql),
// so concurrent completions never update a shared row. This module folds those
// deltas into task_history, per hour, per day and in total (the roll-up: any
// process may run it, one at a time wins an advisory lock, the others skip),
// and back-fills the tasks that had finished before the triggers existed.
// Readers add the deltas not rolled up yet (src/db/read-history.ts): the
// history is exact whether or not the roll-up has run. Deleting tasks never
// reduces it. task_series, its sums over providers and models for series,
// follows task_history by triggers once filled (fillHistorySeries).
import { sql, type SQL } from 'drizzle-orm';
import { execRows, type Db, type DbOrTx } from './client.js';
import { maintenanceDone, taskHistory, taskHistoryDeltas, taskSeries, tasks } from './schema.js';
import { startRollupLoop, type RollupLoop } from './rollup-loop.js';

export const HISTORY_LOCK = 7_270_006;
export const HISTORY_BACKFILL = 'task_history';
/** task_series (drizzle/0010_series.sql) filled from task_history once: its triggers keep it from then on. */
export const SERIES_FILL = 'task_series';
const ROLLUP_BATCH = 20_000;
const BACKFILL_BATCH = 20_000;

/** Finished tasks of `tasks` as delta rows (the columns task_history_deltas has): the back-fill's source, and the scans'. */
export function finishedTasksAsDeltas(where: SQL | undefined): SQL {
  return sql`select owner, provider_id, coalesce(model, '') as model, status, coalesce(cost_currency, '') as currency,
      coalesce(completed_at, updated_at) as finished_at, coalesce(cost_amount, 0) as cost,
      task_duration_ms(status, created_at, started_at, completed_at) as run_ms, task_queue_ms(created_at, started_at) as queue_ms
    from ${tasks} where status in ('COMPLETED', 'FAILED', 'CANCELLED') ${where ? sql`and ${where}` : sql``}`;
}

/** Where a row of one hour (`hour`) goes for each span (`p.span`). */
const SPAN_START = sql`case p.span when 'hour' then hour when 'day' then date_trunc('day', hour, 'UTC') else 'epoch'::timestamptz end`;
const SPANS = sql`(values ('hour'), ('day'), ('all')) as p (span)`;
const KEY = sql`owner, provider_id, model, status, currency`;

/**
 * Insert (or add to) task_history the rows of `source` (a CTE name with the
 * delta columns), once per span: the hour and the day they finished in (UTC)
 * and the total ('all', at the epoch). Tasks are grouped per hour first, and
 * the histograms are built from counts per bucket (hist_from runs once per
 * resulting row, not per task), so a batch costs a few hash aggregations.
 */
export function foldInto(source: SQL): SQL {
  return sql`insert into ${taskHistory} (owner, span, start, provider_id, model, status, currency, tasks, cost, run_ms, run_hist, queue_hist)
    select k.owner, k.span, k.start, k.provider_id, k.model, k.status, k.currency, k.tasks, k.cost, k.run_ms,
      coalesce(h.run_hist, '{}'), coalesce(h.queue_hist, '{}')
    from (
      select owner, p.span, ${SPAN_START} as start, provider_id, model, status, currency, sum(tasks) as tasks, sum(cost) as cost, sum(run_ms) as run_ms
      from (
        select ${KEY}, date_trunc('hour', finished_at, 'UTC') as hour, count(*) as tasks, sum(cost) as cost, coalesce(sum(run_ms), 0) as run_ms
        from ${source} group by 1, 2, 3, 4, 5, 6
      ) hk cross join ${SPANS}
      group by 1, 2, 3, 4, 5, 6, 7
    ) k
    left join (
      select owner, span, start, provider_id, model, status, currency,
        hist_from(array_agg(b) filter (where h = 'r'), array_agg(n) filter (where h = 'r')) as run_hist,
        hist_from(array_agg(b) filter (where h = 'q'), array_agg(n) filter (where h = 'q')) as queue_hist
      from (
        select owner, p.span, ${SPAN_START} as start, provider_id, model, status, currency, h, b, sum(n)::bigint as n
        from (
          select ${KEY}, date_trunc('hour', finished_at, 'UTC') as hour, 'r'::text as h, hist_bucket(run_ms) as b, count(*) as n
          from ${source} where run_ms is not null group by 1, 2, 3, 4, 5, 6, 7, 8
          union all
          select ${KEY}, date_trunc('hour', finished_at, 'UTC') as hour, 'q'::text as h, hist_bucket(queue_ms) as b, count(*) as n
          from ${source} where queue_ms is not null group by 1, 2, 3, 4, 5, 6, 7, 8
        ) hb cross join ${SPANS}
        group by 1, 2, 3, 4, 5, 6, 7, 8, 9
      ) bs
      group by 1, 2, 3, 4, 5, 6, 7
    ) h using (owner, span, start, provider_id, model, status, currency)
    order by 1, 2, 3, 4, 5, 6, 7
    on conflict (owner, span, start, provider_id, model, status, currency) do update set
      tasks = ${taskHistory}.tasks + excluded.tasks,
      cost = ${taskHistory}.cost + excluded.cost,
      run_ms = ${taskHistory}.run_ms + excluded.run_ms,
      run_hist = hist_add(${taskHistory}.run_hist, excluded.run_hist),
      queue_hist = hist_add(${taskHistory}.queue_hist, excluded.queue_hist)`;
}

/**
 * Move up to `limit` deltas into task_history, in one statement. Returns how
 * many were moved; 0 as well when another process is rolling up, or before
 * the back-fill is done (the history is not in use yet).
 */
export async function rollUpHistory(db: DbOrTx, limit = ROLLUP_BATCH): Promise<number> {
  const [moved] = await execRows<{ n: number }>(
    db,
    sql`with gate as materialized (
        select pg_try_advisory_xact_lock(${HISTORY_LOCK}) and exists (select 1 from ${maintenanceDone} where name = ${HISTORY_BACKFILL}) as go
      ),
      d as (
        delete from ${taskHistoryDeltas}
        where id in (select id from ${taskHistoryDeltas} where (select go from gate) order by id limit ${limit})
        returning owner, provider_id, model, status, currency, finished_at, cost, run_ms, queue_ms
      ),
      folded as (${foldInto(sql`d`)})
      select count(*)::int as n from d`,
  );
  return Number(moved?.n ?? 0);
}

/**
 * Fold the tasks that are finished into task_history, once. Like the counter
 * back-fill (roll-up-counts.ts): one REPEATABLE READ transaction, batches along
 * the primary key; its snapshot sees a task's final state exactly when it sees
 * that transition's delta, so it drops the deltas it sees and counts the
 * tasks; later deltas stay for the roll-up. Returns the tasks folded, or null
 * when already done.
 */
export async function backfillHistory(db: Db): Promise<number | null> {
  return db.transaction(
    async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${HISTORY_LOCK})`);
      const [done] = await execRows<{ x: number }>(tx, sql`select 1 as x from ${maintenanceDone} where name = ${HISTORY_BACKFILL}`);
      if (done) return null;
      // task_series first: its triggers stop following task_history until it is filled again at the end.
      await tx.execute(sql`delete from ${maintenanceDone} where name = ${SERIES_FILL}`);
      await tx.execute(sql`delete from ${taskSeries}`);
      await tx.execute(sql`delete from ${taskHistoryDeltas}`);
      await tx.execute(sql`delete from ${taskHistory}`);
      let after: string | null = null;
      let folded = 0;
      for (;;) {
        const from: SQL = after === null ? sql`true` : sql`id > ${after}::uuid`;
        const [edge] = await execRows<{ id: string }>(tx, sql`select id from ${tasks} where ${from} order by id offset ${BACKFILL_BATCH - 1} limit 1`);
        const upto = edge ? sql`and id <= ${edge.id}::uuid` : sql``;
        const [batch] = await execRows<{ n: number }>(
          tx,
          sql`with src as materialized (${finishedTasksAsDeltas(sql`${from} ${upto}`)}),
            folded as (${foldInto(sql`src`)})
            select count(*)::int as n from src`,
        );
        folded += Number(batch?.n ?? 0);
        if (!edge) break;
        after = edge.id;
      }
      await tx.insert(maintenanceDone).values({ name: HISTORY_BACKFILL });
      await fillSeries(tx);
      return folded;
    },
    { isolationLevel: 'repeatable read' },
  );
}

/** Recompute all of task_series from task_history and mark it filled: its triggers follow task_history from then on. */
async function fillSeries(tx: DbOrTx): Promise<void> {
  await tx.execute(sql`delete from ${taskSeries}`);
  await tx.execute(
    sql`select task_series_refresh(array_agg(owner), array_agg(span), array_agg(start), array_agg(status), array_agg(currency))
        from (select distinct owner, span, start, status, currency from ${taskHistory} where span <> 'all') k`,
  );
  await tx.insert(maintenanceDone).values({ name: SERIES_FILL });
}

/**
 * Fill task_series once, on a database whose history was back-filled before
 * the table existed (the back-fill fills it itself). Holds the history lock,
 * so no roll-up writes task_history meanwhile; a few seconds at a million
 * tasks (the history has a row per hour and key, not per task). Returns
 * whether it filled it.
 */
export async function fillHistorySeries(db: Db): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${HISTORY_LOCK})`);
    const done = await execRows<{ name: string }>(tx, sql`select name from ${maintenanceDone} where name in (${HISTORY_BACKFILL}, ${SERIES_FILL})`);
    if (done.length !== 1 || done[0]!.name !== HISTORY_BACKFILL) return false;
    await fillSeries(tx);
    return true;
  });
}

/** Roll up every second (and at once again while a full batch came back), until stopped. */
export function startHistoryRollup(db: Db, opts: { intervalMs?: number; onError?: (err: unknown) => void } = {}): RollupLoop {
  return startRollupLoop(() => rollUpHistory(db), ROLLUP_BATCH, opts);
}
