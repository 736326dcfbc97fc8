// Queued and processing tasks per provider across every owner, for the
// metrics gauges: the task counters plus the deltas not rolled up yet (as in
// count-tasks.ts), one statement, never a scan of the tasks table. Null until
// the counters are back-filled.
import { sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { countersAreReady } from './count-tasks.js';
import { taskCountDeltas, taskCounts } from './schema.js';

export interface ActiveCounts {
  providerId: string;
  queued: number;
  processing: number;
}

export async function countActiveTasks(db: DbOrTx): Promise<ActiveCounts[] | null> {
  const rows = await execRows<{ ready: boolean; provider_id: string | null; queued: string | null; processing: string | null }>(
    db,
    sql`select r.ready, c.provider_id, c.queued, c.processing
        from (select ${countersAreReady} as ready) r
        left join (
          select provider_id,
                 (sum(tasks) filter (where status = 'QUEUED'))::text as queued,
                 (sum(tasks) filter (where status = 'PROCESSING'))::text as processing
          from (
            select provider_id, status, tasks from ${taskCounts} where status in ('QUEUED', 'PROCESSING')
            union all
            select provider_id, status, tasks from ${taskCountDeltas} where status in ('QUEUED', 'PROCESSING')
          ) u
          group by provider_id
        ) c on r.ready
        order by c.provider_id`,
  );
  if (!rows[0]?.ready) return null;
  return rows
    .filter((r) => r.provider_id !== null)
    .map((r) => ({ providerId: r.provider_id!, queued: Number(r.queued ?? 0), processing: Number(r.processing ?? 0) }));
}
