// Leases: a runner's heartbeat extends what it still holds.
import { and, eq, sql } from 'drizzle-orm';
import { uuidArray, type Db } from './client.js';
import { tasks } from './schema.js';

/** Heartbeat: extend the leases this runner still holds; returns the ids it still owns. */
export async function renewLeases(db: Db, owner: string, ids: string[], leaseMs: number): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const rows = await db
    .update(tasks)
    .set({ leaseExpiresAt: sql`now() + ${`${leaseMs} milliseconds`}::interval` })
    // The ids as one array parameter: thousands of held tasks are one statement with three parameters.
    .where(and(sql`${tasks.id} = any(${uuidArray(ids)})`, eq(tasks.leaseOwner, owner), eq(tasks.status, 'PROCESSING')))
    .returning({ id: tasks.id });
  return new Set(rows.map((r) => r.id));
}
