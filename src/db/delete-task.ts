// Remove a finished task (its events go with it by cascade).
import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from './client.js';
import { TERMINAL_STATUSES, tasks, type TaskRow } from './schema.js';

export async function deleteTerminalTask(db: Db, id: string, owner: string): Promise<TaskRow | undefined> {
  const [row] = await db
    .delete(tasks)
    .where(and(eq(tasks.id, id), eq(tasks.owner, owner), inArray(tasks.status, [...TERMINAL_STATUSES])))
    .returning();
  return row;
}
