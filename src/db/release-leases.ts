// Hand back every lease at start-up of the single-process embedded database.
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { tasks } from './schema.js';

/**
 * The embedded database has exactly one process: any lease found at start-up
 * belongs to a process that died, so its tasks can resume at once.
 */
export async function releaseAllLeases(db: Db): Promise<number> {
  const rows = await db
    .update(tasks)
    .set({ leaseOwner: null, leaseExpiresAt: null, nextPollAt: sql`now()` })
    .where(and(eq(tasks.status, 'PROCESSING'), sql`${tasks.leaseOwner} is not null`))
    .returning({ id: tasks.id });
  return rows.length;
}
