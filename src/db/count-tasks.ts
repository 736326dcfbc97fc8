// Exact counts of an owner's tasks without scanning its history: the counters
// per owner × provider × status (task_counts) plus the deltas not rolled up yet
// (task_count_deltas), read in one statement, hence one snapshot (a roll-up
// moves deltas into task_counts in one transaction, so a reader sees either
// side, never both or neither). Filters the counters cannot answer (model,
// time window, search) count by a scan bounded by an index instead.
import { count, sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { COUNTS_BACKFILL } from './roll-up-counts.js';
import { maintenanceDone, removedTaskCounts, taskCountDeltas, taskCounts, tasks, type TaskStatus } from './schema.js';
import { taskConditions, type TaskFilter } from './task-filter.js';

export interface CounterRow {
  providerId: string;
  status: TaskStatus;
  tasks: number;
  /** COMPLETED tasks with a duration, and the sum of their durations. */
  timed: number;
  durationMs: number;
}

/** True once the counters are back-filled (SQL, for use inside a statement); until then counts scan. */
export const countersAreReady = sql`exists (select 1 from ${maintenanceDone} where name = ${COUNTS_BACKFILL})`;

/** Whether the counters alone can answer this filter (status and provider only). */
export function countersAnswer(filter: TaskFilter = {}): boolean {
  return !filter.model && !filter.createdAfter && !filter.createdBefore && !filter.search?.trim();
}

/**
 * The owner's counters per provider × status, restricted by the filter's status
 * and provider (see countersAnswer); null before the back-fill is done. With
 * `owner` null (an operator key), the sum over every owner: still only counter
 * rows (owners × providers × statuses, plus the deltas not rolled up yet), never tasks.
 * `withRemoved` adds the tasks retention removed (removed_task_counts, written by
 * delete-expired-tasks.ts): `stats` keeps them, `totalCount` counts what exists.
 */
export async function readCounters(db: DbOrTx, owner: string | null, filter: TaskFilter = {}, opts: { withRemoved?: boolean } = {}): Promise<CounterRow[] | null> {
  const where = (table: typeof taskCounts | typeof taskCountDeltas | typeof removedTaskCounts) => {
    const conds = [owner === null ? sql`true` : sql`${table.owner} = ${owner}`];
    if (filter.provider) conds.push(sql`${table.providerId} = ${filter.provider}`);
    if (filter.status?.length) conds.push(sql`${table.status} in (${sql.join(filter.status.map((s) => sql`${s}::task_status`), sql`, `)})`);
    return sql.join(conds, sql` and `);
  };
  // Always one row at least, saying whether the counters are ready.
  const rows = await execRows<{ ready: boolean; provider_id: string | null; status: TaskStatus; tasks: string; timed: string; duration_ms: string }>(
    db,
    sql`select r.ready, c.provider_id, c.status, c.tasks, c.timed, c.duration_ms
        from (select ${countersAreReady} as ready) r
        left join (
          select provider_id, status, sum(tasks)::text as tasks, sum(timed)::text as timed, sum(duration_ms)::text as duration_ms
          from (
            select provider_id, status, tasks, timed, duration_ms from ${taskCounts} where ${where(taskCounts)}
            union all
            select provider_id, status, tasks, timed, duration_ms from ${taskCountDeltas} where ${where(taskCountDeltas)}
            ${opts.withRemoved ? sql`union all select provider_id, status, tasks, timed, duration_ms from ${removedTaskCounts} where ${where(removedTaskCounts)}` : sql``}
          ) u
          group by provider_id, status
          having sum(tasks) <> 0
        ) c on r.ready
        order by c.provider_id, c.status`,
  );
  if (!rows[0]?.ready) return null;
  return rows
    .filter((r) => r.provider_id !== null)
    .map((r) => ({ providerId: r.provider_id!, status: r.status, tasks: Number(r.tasks), timed: Number(r.timed), durationMs: Number(r.duration_ms) }));
}

/** All tasks of `owner` (null: of every owner) matching the filter, exactly. */
export async function countTasks(db: DbOrTx, owner: string | null, filter?: TaskFilter): Promise<number> {
  const counted = countersAnswer(filter) ? await readCounters(db, owner, filter) : null;
  if (counted) return counted.reduce((n, r) => n + r.tasks, 0);
  const [row] = await db.select({ n: count() }).from(tasks).where(taskConditions(owner, filter));
  return Number(row?.n ?? 0);
}
