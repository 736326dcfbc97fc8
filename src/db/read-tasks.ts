// Batched reads behind the API's DataLoaders: rows and histories (queue positions: fair-queue.ts).
import { and, asc, eq, gte, isNotNull, sql } from 'drizzle-orm';
import { uuidArray, type DbOrTx } from './client.js';
import { isUuid } from './cursor.js';
import { taskEvents, tasks, type TaskEventRow, type TaskRow } from './schema.js';

// Id lists go as one uuid[] parameter: one statement text (prepared once per
// connection, src/db/prepared-statements.ts) whatever the batch size, where an
// IN list made a text, a parse and a plan per length.

/** Rows of these ids (any that are not UUIDs name no task). */
export async function getTasksByIds(db: DbOrTx, ids: readonly string[]): Promise<TaskRow[]> {
  const valid = ids.filter(isUuid);
  if (!valid.length) return [];
  return db.select().from(tasks).where(sql`${tasks.id} = any(${uuidArray(valid)})`);
}

export async function getTask(db: DbOrTx, id: string, owner: string): Promise<TaskRow | undefined> {
  const [row] = await db.select().from(tasks).where(and(eq(tasks.id, id), eq(tasks.owner, owner)));
  return row;
}

export async function getEventsForTasks(db: DbOrTx, ids: readonly string[]): Promise<TaskEventRow[]> {
  if (!ids.length) return [];
  return db.select().from(taskEvents).where(sql`${taskEvents.taskId} = any(${uuidArray(ids)})`).orderBy(asc(taskEvents.taskId), asc(taskEvents.id));
}

/** Upstream ids reelay already tracks at a provider (so a lookup never adopts another task's). */
export async function knownProviderTaskIds(db: DbOrTx, providerId: string, since: Date): Promise<Set<string>> {
  const rows = await db
    .select({ id: tasks.providerTaskId })
    .from(tasks)
    .where(and(eq(tasks.providerId, providerId), isNotNull(tasks.providerTaskId), gte(tasks.createdAt, new Date(since.getTime() - 86_400_000))));
  return new Set(rows.map((r) => r.id!));
}
