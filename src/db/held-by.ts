// Which rows a runner's batched write of the tasks it holds may change:
// PROCESSING, under its lease. These writes name their rows by id (a batch
// `v` of ids and values) and must be planned from the batch: each row found
// by its primary key, or the batch hashed. With statistics that lag a burst of
// claims (thousands of tasks PROCESSING under one lease that ANALYZE has not
// seen yet), conditions on the status and the lease owner written as constants
// were estimated to match a row or two, so the planner scanned tasks first and
// compared every PROCESSING task with the whole batch: 3 s for 500 progress
// writes with 10,000 jobs in flight (bench/jobs.ts), 40 ms from the batch; a
// lease renewal of 10,000 ids checked each PROCESSING row against the whole
// id array. So the expected status and owner come as columns of the batch
// (`heldBatch`): comparing them is a join condition, never an estimate of the
// tasks table on its own.
import { sql, type SQL } from 'drizzle-orm';

/** The batch `source` (rows named `v`, with an `id` column) with the expected status and lease owner added, named `v`. */
export function heldBatch(source: SQL, owner: string): SQL {
  // offset 0: the subquery is not pulled up, so its constant columns stay columns.
  return sql`(select v.*, 'PROCESSING'::task_status as held_status, ${owner}::text as held_by from ${source} offset 0) v`;
}

/** The condition joining tasks `t` to a `heldBatch` `v`: the same task, still PROCESSING under the batch's lease. */
export const HELD_BY_BATCH = sql`t.id = v.id and t.status = v.held_status and t.lease_owner = v.held_by`;
