// Aggregates for the `stats` query, computed in the database in two queries.
import { count, sql } from 'drizzle-orm';
import type { DbOrTx } from './client.js';
import { tasks } from './schema.js';
import { taskConditions, type TaskFilter } from './task-filter.js';

export interface TaskStats {
  total: number;
  queued: number;
  processing: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** completed / (completed + failed), null before anything finished. */
  successRate: number | null;
  /** Mean of completed_at - started_at over completed tasks. */
  avgDurationSeconds: number | null;
  byProvider: Array<{ provider: string; total: number; completed: number; failed: number }>;
}

const countWhere = (status: string) => sql<number>`count(*) filter (where ${tasks.status} = ${status})::int`;

export async function getTaskStats(db: DbOrTx, owner: string, filter?: TaskFilter): Promise<TaskStats> {
  const where = taskConditions(owner, filter);
  const [totals] = await db
    .select({
      total: count(),
      queued: countWhere('QUEUED'),
      processing: countWhere('PROCESSING'),
      completed: countWhere('COMPLETED'),
      failed: countWhere('FAILED'),
      cancelled: countWhere('CANCELLED'),
      avg: sql<number | null>`avg(extract(epoch from (${tasks.completedAt} - coalesce(${tasks.startedAt}, ${tasks.createdAt})))) filter (where ${tasks.status} = 'COMPLETED')`,
    })
    .from(tasks)
    .where(where);
  const byProvider = await db
    .select({ provider: tasks.providerId, total: count(), completed: countWhere('COMPLETED'), failed: countWhere('FAILED') })
    .from(tasks)
    .where(where)
    .groupBy(tasks.providerId)
    .orderBy(tasks.providerId);
  const t = totals!;
  const completed = Number(t.completed);
  const failed = Number(t.failed);
  return {
    total: Number(t.total),
    queued: Number(t.queued),
    processing: Number(t.processing),
    completed,
    failed,
    cancelled: Number(t.cancelled),
    successRate: completed + failed > 0 ? completed / (completed + failed) : null,
    avgDurationSeconds: t.avg === null ? null : Number(t.avg),
    byProvider: byProvider.map((p) => ({ provider: p.provider, total: Number(p.total), completed: Number(p.completed), failed: Number(p.failed) })),
  };
}
