// Leases: a runner's heartbeat extends what it still holds.
import { sql, type SQL } from 'drizzle-orm';
import { execRows, uuidArray, type Db } from './client.js';
import { HELD_BY_BATCH, heldBatch } from './held-by.js';
import { tasks } from './schema.js';

/** Heartbeat: extend the leases this runner still holds; returns the ids it still owns. */
export async function renewLeases(db: Db, owner: string, ids: string[], leaseMs: number): Promise<Set<string>> {
  if (!ids.length) return new Set();
  // The ids as one array parameter: thousands of held tasks are one statement with three parameters,
  // planned from the ids (see held-by.ts).
  const rows = await execRows<{ id: string }>(db, renewLeasesSql(owner, ids, leaseMs));
  return new Set(rows.map((r) => r.id));
}

/** The statement of `renewLeases` (exported for the test of its plan). */
export function renewLeasesSql(owner: string, ids: string[], leaseMs: number): SQL {
  return sql`update ${tasks} t set lease_expires_at = now() + ${`${leaseMs} milliseconds`}::interval
      from ${heldBatch(sql`unnest(${uuidArray(ids)}) as v (id)`, owner)}
      where ${HELD_BY_BATCH}
      returning t.id`;
}
