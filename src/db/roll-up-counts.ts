// The task counters (task_counts, per owner × provider × status) are kept by
// triggers on tasks that append task_count_deltas rows: a create, transition or
// delete never updates a shared row, so concurrent writes of one key never wait
// for each other. This module folds those deltas into task_counts (the roll-up,
// any process may run it: one at a time wins an advisory lock, the others skip)
// and back-fills the counters of rows that existed before the triggers did.
// Readers add the deltas not rolled up yet (src/db/count-tasks.ts), so counts
// are exact whether or not the roll-up has run; it only keeps the delta table short.
import { sql } from 'drizzle-orm';
import { execRows, type Db, type DbOrTx } from './client.js';
import { maintenanceDone, taskCountDeltas, taskCounts, tasks } from './schema.js';
import { startRollupLoop, type RollupLoop } from './rollup-loop.js';

/** The tail of an insert into task_counts that adds to an existing row. */
const addToCounts = sql`on conflict (owner, provider_id, status) do update set
  tasks = ${taskCounts}.tasks + excluded.tasks,
  timed = ${taskCounts}.timed + excluded.timed,
  duration_ms = ${taskCounts}.duration_ms + excluded.duration_ms`;

/** Taken by the roll-up, the back-fill and the TRUNCATE trigger (drizzle/0003_counts.sql). */
export const COUNTS_LOCK = 7_270_004;
export const COUNTS_BACKFILL = 'task_counts';
const ROLLUP_BATCH = 20_000;

/**
 * Move up to `limit` deltas into task_counts, in one statement (its own
 * transaction: no BEGIN/COMMIT round trips, and on the single-connection PGlite
 * nothing else waits behind an open transaction). Returns how many were moved;
 * 0 as well when another process is rolling up (the advisory lock, held to the
 * statement's end), or before the back-fill is done (the counters are not in use).
 */
export async function rollUpCounts(db: DbOrTx, limit = ROLLUP_BATCH): Promise<number> {
  const [moved] = await execRows<{ n: number }>(
    db,
    sql`with gate as materialized (
        select pg_try_advisory_xact_lock(${COUNTS_LOCK}) and exists (select 1 from ${maintenanceDone} where name = ${COUNTS_BACKFILL}) as go
      ),
      d as (
        delete from ${taskCountDeltas}
        where id in (select id from ${taskCountDeltas} where (select go from gate) order by id limit ${limit})
        returning owner, provider_id, status, tasks, timed, duration_ms
      ),
      summed as (
        insert into ${taskCounts} (owner, provider_id, status, tasks, timed, duration_ms)
        select owner, provider_id, status, sum(tasks), sum(timed), sum(duration_ms) from d
        group by owner, provider_id, status
        order by owner, provider_id, status
        ${addToCounts}
      )
      select count(*)::int as n from d`,
  );
  return Number(moved?.n ?? 0);
}

const BACKFILL_BATCH = 20_000;

/**
 * Count the rows of tasks into task_counts, once. Runs in one REPEATABLE READ
 * transaction, in batches along the primary key (no lock that blocks writers):
 * its snapshot sees a change exactly when it sees that change's delta (both are
 * written by the same transaction, after the triggers exist), so it counts the
 * rows as of its snapshot and drops the deltas it can see; deltas committed
 * later stay and are rolled up afterwards. Returns the rows counted, or null
 * when the counters were already back-filled.
 */
export async function backfillCounts(db: Db): Promise<number | null> {
  return db.transaction(
    async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${COUNTS_LOCK})`);
      const [done] = await execRows<{ x: number }>(tx, sql`select 1 as x from ${maintenanceDone} where name = ${COUNTS_BACKFILL}`);
      if (done) return null;
      await tx.execute(sql`delete from ${taskCountDeltas}`);
      await tx.execute(sql`delete from ${taskCounts}`);
      let after: string | null = null;
      let counted = 0;
      for (;;) {
        const from: ReturnType<typeof sql> = after === null ? sql`true` : sql`id > ${after}::uuid`;
        const [edge] = await execRows<{ id: string }>(tx, sql`select id from ${tasks} where ${from} order by id offset ${BACKFILL_BATCH - 1} limit 1`);
        const upto = edge ? sql`and id <= ${edge.id}::uuid` : sql``;
        const [batch] = await execRows<{ n: number }>(
          tx,
          sql`with b as (
              select owner, provider_id, status, task_duration_ms(status, created_at, started_at, completed_at) as ms
              from ${tasks} where ${from} ${upto}
            ),
            summed as (
              insert into ${taskCounts} (owner, provider_id, status, tasks, timed, duration_ms)
              select owner, provider_id, status, count(*), count(ms), coalesce(sum(ms), 0) from b
              group by owner, provider_id, status
              ${addToCounts}
            )
            select count(*)::int as n from b`,
        );
        counted += Number(batch?.n ?? 0);
        if (!edge) break;
        after = edge.id;
      }
      await tx.insert(maintenanceDone).values({ name: COUNTS_BACKFILL });
      return counted;
    },
    { isolationLevel: 'repeatable read' },
  );
}

/** Roll up every second (and at once again while a full batch came back), until stopped. */
export function startCountRollup(db: Db, opts: { intervalMs?: number; onError?: (err: unknown) => void } = {}): RollupLoop {
  return startRollupLoop(() => rollUpCounts(db), ROLLUP_BATCH, opts);
}
