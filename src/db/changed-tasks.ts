// "What changed since": a re-sync after missed notifications re-reads one
// owner's tasks whose last change was made by a transaction at or above a
// mark (change_xid, see task-change.ts), page by page on the
// (owner, change_xid, id) index, so an owner with a long history costs only
// what changed, never a scan of everything.
//
// Why transaction ids and not time: updated_at is the start time of the
// changing transaction, and a transaction can wait for locks (the claim lock,
// a row lock) for as long as it likes before it commits, so no safety margin
// on a time is ever sure. A transaction id compared with a snapshot's xmin is:
// whatever commits after a snapshot was taken has an id >= its xmin.
//
// One kind of change keeps its change_xid: the runner's progress writes of
// PROCESSING tasks (task-change.ts PROGRESS_STAMP_SQL; they stay HOT updates
// that way). So the owner's PROCESSING tasks are re-read too, whatever their
// change_xid: a task with a missed progress change is either still
// PROCESSING, or changed state since, and that change was stamped.
import { and, asc, eq, gt, gte, sql, type SQL } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { tasks, type TaskRow } from './schema.js';
import { taskConditions, type TaskFilter } from './task-filter.js';

/** The xmin of a snapshot taken now: every transaction that commits later has an id at or above it. */
export async function currentMark(db: DbOrTx): Promise<number> {
  const [row] = await execRows<{ mark: string | number }>(db, sql`select pg_snapshot_xmin(pg_current_snapshot())::text::bigint as mark`);
  return Number(row!.mark);
}

const PAGE = 500;

/**
 * The owner's tasks last changed by a transaction with id >= `since`, oldest
 * change first, then the owner's other PROCESSING tasks (their progress may
 * have changed without a new change_xid), by id. Narrowed by the filter's
 * fixed properties (provider, model, creation time); status and text are left
 * to the caller, which must also see a task leave the filter to keep its
 * bookkeeping. Callers drop rows they already sent (by version).
 */
export async function* changedTasksSince(db: DbOrTx, owner: string, filter: TaskFilter, since: number): AsyncGenerator<TaskRow[]> {
  const base = taskConditions(owner, { ...filter, status: null, search: null });
  let after: { xid: number; id: string } | null = null;
  for (;;) {
    const from: SQL = after ? sql`(${tasks.changeXid}, ${tasks.id}) > (${after.xid}::bigint, ${after.id}::uuid)` : gte(tasks.changeXid, since);
    const rows: TaskRow[] = await db
      .select()
      .from(tasks)
      .where(and(base, from))
      .orderBy(asc(tasks.changeXid), asc(tasks.id))
      .limit(PAGE);
    if (rows.length) yield rows;
    if (rows.length < PAGE) break;
    const last = rows[rows.length - 1]!;
    after = { xid: last.changeXid, id: last.id };
  }
  // On tasks_owner_active (owner, status): the tasks in flight, not the owner's history.
  let afterId: string | null = null;
  for (;;) {
    const rows: TaskRow[] = await db
      .select()
      .from(tasks)
      .where(and(base, eq(tasks.status, 'PROCESSING'), afterId ? gt(tasks.id, afterId) : undefined))
      .orderBy(asc(tasks.id))
      .limit(PAGE);
    if (rows.length) yield rows;
    if (rows.length < PAGE) return;
    afterId = rows[rows.length - 1]!.id;
  }
}
