// Task retention (REELAY_RETENTION_DAYS): finished tasks whose completed_at is
// older than the window, found oldest first and deleted in batches. The delete
// takes the rows it can lock at once and skips those another runner's sweep
// holds (no waiting, no deadlock between sweeps); events and idempotency keys
// go with the rows (foreign keys, on delete cascade). The same statement adds
// the deleted rows to removed_task_counts, so `stats` keeps them: a row is
// counted there exactly when its delete commits.
import { sql } from 'drizzle-orm';
import { execRows, uuidArray, type DbOrTx } from './client.js';
import { removedTaskCounts, tasks } from './schema.js';

/** The SQL cutoff `now() - olderThanMs` (the database's clock, shared by every runner). */
export const cutoffSql = (olderThanMs: number) => sql`now() - make_interval(secs => ${olderThanMs / 1000}::double precision)`;

const FINISHED = sql`status in ('COMPLETED', 'FAILED', 'CANCELLED')`;

/** Ids of up to `limit` finished tasks completed before the cutoff, oldest first (tasks_finished_completed). */
export async function findExpiredTasks(db: DbOrTx, olderThanMs: number, limit: number): Promise<string[]> {
  const rows = await execRows<{ id: string }>(
    db,
    sql`select id from ${tasks} where ${FINISHED} and completed_at < ${cutoffSql(olderThanMs)} order by completed_at limit ${limit}`,
  );
  return rows.map((r) => r.id);
}

/**
 * Delete those of `ids` that are still finished and past the cutoff and not
 * locked by anyone else; returns the ids deleted. Their counts move to
 * removed_task_counts in the same statement (the delete trigger subtracts them
 * from task_counts, which counts what exists).
 */
export async function deleteExpiredTasks(db: DbOrTx, ids: readonly string[], olderThanMs: number): Promise<string[]> {
  if (!ids.length) return [];
  const rows = await execRows<{ id: string }>(
    db,
    sql`with d as (
        delete from ${tasks} where id in (
          select id from ${tasks}
          where id = any(${uuidArray(ids)}) and ${FINISHED} and completed_at < ${cutoffSql(olderThanMs)}
          for update skip locked
        )
        returning id, owner, provider_id, status, task_duration_ms(status, created_at, started_at, completed_at) as ms
      ),
      kept as (
        insert into ${removedTaskCounts} (owner, provider_id, status, tasks, timed, duration_ms)
        select owner, provider_id, status, count(*), count(ms), coalesce(sum(ms), 0) from d
        group by owner, provider_id, status
        order by owner, provider_id, status
        on conflict (owner, provider_id, status) do update set
          tasks = ${removedTaskCounts}.tasks + excluded.tasks,
          timed = ${removedTaskCounts}.timed + excluded.timed,
          duration_ms = ${removedTaskCounts}.duration_ms + excluded.duration_ms
      )
      select id from d`,
  );
  return rows.map((r) => r.id);
}
