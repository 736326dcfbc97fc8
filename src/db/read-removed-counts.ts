// The counts of tasks removed by retention (removed_task_counts, written by
// delete-expired-tasks.ts), in the shape of the live counters, so that `stats`
// adds them: its totals keep the history of tasks that no longer exist.
import { sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import type { CounterRow } from './count-tasks.js';
import { removedTaskCounts, type TaskStatus } from './schema.js';
import type { TaskFilter } from './task-filter.js';

/** `owner`'s (null: every owner's) removed tasks per provider × status, restricted by the filter's status and provider. */
export async function readRemovedCounts(db: DbOrTx, owner: string | null, filter: TaskFilter = {}): Promise<CounterRow[]> {
  const conds = [owner === null ? sql`true` : sql`owner = ${owner}`];
  if (filter.provider) conds.push(sql`provider_id = ${filter.provider}`);
  if (filter.status?.length) conds.push(sql`status in (${sql.join(filter.status.map((s) => sql`${s}::task_status`), sql`, `)})`);
  const rows = await execRows<{ provider_id: string; status: TaskStatus; tasks: string; timed: string; duration_ms: string }>(
    db,
    sql`select provider_id, status, sum(tasks)::text as tasks, sum(timed)::text as timed, sum(duration_ms)::text as duration_ms
        from ${removedTaskCounts} where ${sql.join(conds, sql` and `)}
        group by provider_id, status order by provider_id, status`,
  );
  return rows.map((r) => ({ providerId: r.provider_id, status: r.status, tasks: Number(r.tasks), timed: Number(r.timed), durationMs: Number(r.duration_ms) }));
}
