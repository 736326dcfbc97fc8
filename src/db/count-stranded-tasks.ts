// Unfinished tasks nothing will claim: their provider left the configuration.
import { and, inArray, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { tasks } from './schema.js';

/** Unfinished tasks of providers this configuration no longer has: nothing will claim them. */
export async function strandedTasks(db: Db, providerIds: string[]): Promise<Array<{ provider: string; tasks: number }>> {
  const rows = await db
    .select({ provider: tasks.providerId, tasks: sql<number>`count(*)::int` })
    .from(tasks)
    .where(and(inArray(tasks.status, ['QUEUED', 'PROCESSING']), providerIds.length ? sql`${tasks.providerId} not in (${sql.join(providerIds.map((id) => sql`${id}`), sql`, `)})` : undefined))
    .groupBy(tasks.providerId);
  return rows.map((r) => ({ provider: r.provider, tasks: Number(r.tasks) }));
}
