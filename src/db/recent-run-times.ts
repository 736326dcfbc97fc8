// Recent run times of a provider and model, for the estimated time left of
// active tasks: the median of completed_at − started_at over the last
// RECENT_RUNS COMPLETED tasks of each (provider, model) asked about, across
// owners (a provider's speed is not per key; only the number leaves here).
// One statement for all the pairs; each pair is a walk of at most RECENT_RUNS
// entries of tasks_completed_runs (provider_id, coalesce(model, ''),
// completed_at desc; partial on COMPLETED).
import { sql } from 'drizzle-orm';
import { execRows, jsonRecords, type DbOrTx } from './client.js';
import { tasks } from './schema.js';

export const RECENT_RUNS = 50;

export interface RunTimeKey {
  providerId: string;
  model: string | null;
}

export interface RunTimes {
  /** Median seconds from start to completion. */
  medianSeconds: number;
  /** Completed tasks it is the median of (1..RECENT_RUNS). */
  samples: number;
}

/** `runTimeKey` of each pair with any history → its run times; pairs without history are absent. */
export async function getRecentRunTimes(db: DbOrTx, keys: readonly RunTimeKey[]): Promise<Map<string, RunTimes>> {
  if (!keys.length) return new Map();
  const pairs = keys.map((k) => ({ provider_id: k.providerId, model: k.model }));
  // coalesce(model, '') is the index's own expression (its order holds for a null model too);
  // `is not distinct from` then tells a null model from an empty one.
  const rows = await execRows<{ provider_id: string; model: string | null; samples: number; median: number }>(
    db,
    sql`select k.provider_id, k.model, count(*)::int as samples, percentile_cont(0.5) within group (order by r.s)::float8 as median
        from ${jsonRecords(pairs, 'k', 'provider_id text, model text')}
        cross join lateral (
          select extract(epoch from (t.completed_at - t.started_at))::float8 as s from ${tasks} t
          where t.status = 'COMPLETED' and t.provider_id = k.provider_id and coalesce(t.model, '') = coalesce(k.model, '')
            and t.model is not distinct from k.model and t.started_at is not null
          order by t.completed_at desc nulls last limit ${RECENT_RUNS}
        ) r
        group by k.provider_id, k.model`,
  );
  return new Map(rows.map((r) => [runTimeKey({ providerId: r.provider_id, model: r.model }), { medianSeconds: Math.max(0, Number(r.median)), samples: Number(r.samples) }]));
}

export function runTimeKey(k: RunTimeKey): string {
  return k.model === null ? `${k.providerId}\u0000` : `${k.providerId}\u0000\u0001${k.model}`;
}
