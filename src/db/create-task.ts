// Insert a QUEUED task with its first event, or return the task an earlier
// request with the same idempotency key created.
import { and, eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { taskEvents, tasks, type NewTaskRow, type TaskRow } from './schema.js';
import { notifyTaskChanged, notifyWake } from '../events/bus.js';

export type NewTask = Omit<NewTaskRow, 'id' | 'status' | 'createdAt' | 'updatedAt'> & { id?: string };

export async function createTask(db: Db, values: NewTask): Promise<{ task: TaskRow; created: boolean }> {
  return db.transaction(async (tx) => {
    const inserted = await tx
      .insert(tasks)
      .values({ ...values, status: 'QUEUED' })
      .onConflictDoNothing({ target: [tasks.owner, tasks.idempotencyKey] })
      .returning();
    const task = inserted[0];
    if (task) {
      await tx.insert(taskEvents).values({ taskId: task.id, status: 'QUEUED', progress: null, message: `queued for ${task.providerId}` });
      await notifyTaskChanged(tx, task.id);
      await notifyWake(tx);
      return { task, created: true };
    }
    const [existing] = await tx
      .select()
      .from(tasks)
      .where(and(eq(tasks.owner, values.owner), eq(tasks.idempotencyKey, values.idempotencyKey!)));
    return { task: existing!, created: false };
  });
}
