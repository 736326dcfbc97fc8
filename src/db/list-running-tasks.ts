// The tasks running at each provider asked about (when they started, how far
// the upstream says they are), for the estimated wait of queued tasks there:
// the latest `limit` started of each, from the small partial index
// tasks_running (provider_id, started_at) on PROCESSING tasks.
import { sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { tasks } from './schema.js';

export interface RunningTask {
  startedAt: Date | null;
  progress: number | null;
}

export async function listRunningTasks(db: DbOrTx, providers: ReadonlyArray<{ providerId: string; limit: number }>): Promise<Map<string, RunningTask[]>> {
  const out = new Map<string, RunningTask[]>(providers.map((p) => [p.providerId, []]));
  if (!providers.length) return out;
  const values = sql.join(
    providers.map((p) => sql`(${p.providerId}::text, ${Math.max(1, Math.floor(p.limit))}::int)`),
    sql`, `,
  );
  const rows = await execRows<{ provider_id: string; started_at: Date | string | null; progress: number | null }>(
    db,
    sql`select k.provider_id, r.started_at, r.progress
        from (values ${values}) as k (provider_id, n)
        cross join lateral (
          select t.started_at, t.progress from ${tasks} t
          where t.status = 'PROCESSING' and t.provider_id = k.provider_id
          order by t.started_at desc limit k.n
        ) r`,
  );
  for (const r of rows) {
    out.get(r.provider_id)?.push({ startedAt: r.started_at === null ? null : new Date(r.started_at), progress: r.progress === null ? null : Number(r.progress) });
  }
  return out;
}
