// What every visible change of a task row sets besides its own columns: a new
// version (subscribers order a task's rows by it, never by updated_at, which is
// the transaction's start time), the changing transaction's id (so a re-sync
// can ask what changed since a point, see changed-tasks.ts) and updated_at.
// Every UPDATE of tasks that notifies spreads `changeStamp` into its SET;
// inserts get version 1 and change_xid from the column defaults. Progress
// writes of PROCESSING tasks (the runner's batches) are the one exception:
// PROGRESS_STAMP_SQL leaves change_xid alone.
import { sql } from 'drizzle-orm';
import { tasks } from './schema.js';

export const CURRENT_XID = sql`pg_current_xact_id()::text::bigint`;

export const changeStamp = {
  version: sql`${tasks.version} + 1`,
  changeXid: CURRENT_XID,
  updatedAt: sql`now()`,
};

/** The same for hand-written SQL: `update tasks set …, ${CHANGE_STAMP_SQL} where …`. */
export const CHANGE_STAMP_SQL = sql.raw('version = version + 1, change_xid = pg_current_xact_id()::text::bigint, updated_at = now()');

/**
 * For progress-only writes of PROCESSING tasks: a new version and updated_at,
 * but not change_xid, which is indexed (owner, change_xid, id): restamping it
 * would make every progress write rewrite every index of tasks instead of being
 * a HOT update. A re-sync still sees such a change: it re-reads the owner's
 * PROCESSING tasks besides what changed since its mark (changed-tasks.ts).
 */
export const PROGRESS_STAMP_SQL = sql.raw('version = version + 1, updated_at = now()');
