// Exact counts of an owner's tasks without scanning its history: the counters
// per owner × provider × status (task_counts) plus the deltas not rolled up yet
// (task_count_deltas), read in one statement, hence one snapshot (a roll-up
// moves deltas into task_counts in one transaction, so a reader sees either
// side, never both or neither). Filters the counters cannot answer (model,
// time window, search) count by a scan bounded by an index instead.
import { count, sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { COUNTS_BACKFILL } from './roll-up-counts.js';
import { maintenanceDone, taskCountDeltas, taskCounts, tasks, type TaskStatus } from './schema.js';
import { taskConditions, type TaskFilter } from './task-filter.js';

export interface CounterRow {
  providerId: string;
  status: TaskStatus;
  tasks: number;
  /** COMPLETED tasks with a duration, and the sum of their durations. */
  timed: number;
  durationMs: number;
}

// Once back-filled, the counters stay in use; until then every count scans.
const ready = new WeakSet<object>();

export async function countersReady(db: DbOrTx): Promise<boolean> {
  if (ready.has(db)) return true;
  const [row] = await execRows<{ x: number }>(db, sql`select 1 as x from ${maintenanceDone} where name = ${COUNTS_BACKFILL}`);
  if (row) ready.add(db);
  return !!row;
}

/** Whether the counters alone can answer this filter (status and provider only). */
export function countersAnswer(filter: TaskFilter = {}): boolean {
  return !filter.model && !filter.createdAfter && !filter.createdBefore && !filter.search?.trim();
}

/** The owner's counters per provider × status, restricted by the filter's status and provider (see countersAnswer). */
export async function readCounters(db: DbOrTx, owner: string, filter: TaskFilter = {}): Promise<CounterRow[]> {
  const where = (table: typeof taskCounts | typeof taskCountDeltas) => {
    const conds = [sql`${table.owner} = ${owner}`];
    if (filter.provider) conds.push(sql`${table.providerId} = ${filter.provider}`);
    if (filter.status?.length) conds.push(sql`${table.status} in (${sql.join(filter.status.map((s) => sql`${s}::task_status`), sql`, `)})`);
    return sql.join(conds, sql` and `);
  };
  const rows = await execRows<{ provider_id: string; status: TaskStatus; tasks: string; timed: string; duration_ms: string }>(
    db,
    sql`select provider_id, status, sum(tasks)::text as tasks, sum(timed)::text as timed, sum(duration_ms)::text as duration_ms
        from (
          select provider_id, status, tasks, timed, duration_ms from ${taskCounts} where ${where(taskCounts)}
          union all
          select provider_id, status, tasks, timed, duration_ms from ${taskCountDeltas} where ${where(taskCountDeltas)}
        ) c
        group by provider_id, status
        having sum(tasks) <> 0
        order by provider_id, status`,
  );
  return rows.map((r) => ({ providerId: r.provider_id, status: r.status, tasks: Number(r.tasks), timed: Number(r.timed), durationMs: Number(r.duration_ms) }));
}

/** All tasks of `owner` matching the filter, exactly. */
export async function countTasks(db: DbOrTx, owner: string, filter?: TaskFilter): Promise<number> {
  if (countersAnswer(filter) && (await countersReady(db))) {
    return (await readCounters(db, owner, filter)).reduce((n, r) => n + r.tasks, 0);
  }
  const [row] = await db.select({ n: count() }).from(tasks).where(taskConditions(owner, filter));
  return Number(row?.n ?? 0);
}
