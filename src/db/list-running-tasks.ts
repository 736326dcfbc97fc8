// The tasks running at each provider asked about (when they started, how far
// the upstream says they are), for the estimated wait of queued tasks there:
// the latest `limit` started of each, from the small partial index
// tasks_running (provider_id, started_at) on PROCESSING tasks.
//
// A provider may run a thousand tasks at once, and a page with one queued task
// of it needs them all: each provider's come back as one row of two arrays
// (start times in epoch ms, progress), not as a row per task, which costs the
// server a fraction of the rows' protocol and the client of their parsing.
import { sql } from 'drizzle-orm';
import { execRows, jsonRecords, type DbOrTx } from './client.js';
import { tasks } from './schema.js';

export interface RunningTask {
  startedAt: Date | null;
  progress: number | null;
}

/** `{1,NULL,2.5}` (an SQL array of numbers as text) as numbers and nulls. */
function parseNumbers(text: string | null): Array<number | null> {
  if (!text || text.length <= 2) return [];
  return text
    .slice(1, -1)
    .split(',')
    .map((v) => (v === 'NULL' ? null : Number(v)));
}

/** Each provider's latest `limit` (at least 1) started PROCESSING tasks, latest first. */
export async function listRunningTasks(db: DbOrTx, providers: ReadonlyArray<{ providerId: string; limit: number }>): Promise<Map<string, RunningTask[]>> {
  const out = new Map<string, RunningTask[]>(providers.map((p) => [p.providerId, []]));
  if (!providers.length) return out;
  // A batch may name a provider once per queued task asking: it is read once.
  const limits = new Map<string, number>();
  for (const p of providers) limits.set(p.providerId, Math.max(limits.get(p.providerId) ?? 1, Math.floor(p.limit)));
  const pairs = [...limits].map(([provider_id, n]) => ({ provider_id, n }));
  // started_at has millisecond precision (timestamp(3)): its epoch ms is an exact integer.
  const rows = await execRows<{ provider_id: string; started: string | null; progress: string | null }>(
    db,
    sql`select k.provider_id, r.started::text as started, r.progress::text as progress
        from ${jsonRecords(pairs, 'k', 'provider_id text, n int')}
        cross join lateral (
          select array_agg((extract(epoch from l.started_at) * 1000)::bigint order by l.started_at desc) as started,
            array_agg(l.progress order by l.started_at desc) as progress
          from (
            select t.started_at, t.progress from ${tasks} t
            where t.status = 'PROCESSING' and t.provider_id = k.provider_id
            order by t.started_at desc limit k.n
          ) l
        ) r`,
  );
  for (const r of rows) {
    const started = parseNumbers(r.started);
    const progress = parseNumbers(r.progress);
    out.set(
      r.provider_id,
      started.map((ms, i) => ({ startedAt: ms === null ? null : new Date(ms), progress: progress[i] ?? null })),
    );
  }
  return out;
}
