// Aggregates for the `stats` query: from the task counters (one small query,
// exact, see count-tasks.ts) when the filter is only status and provider;
// otherwise computed over the matching rows in two queries. Tasks removed by
// retention stay in the totals from the counters (removed_task_counts); a
// filter that scans covers only the tasks that exist.
import { count, sql } from 'drizzle-orm';
import type { DbOrTx } from './client.js';
import { countersAnswer, readCounters, type CounterRow } from './count-tasks.js';
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

function fromCounters(rows: CounterRow[]): TaskStats {
  const sum = (status: string) => rows.filter((r) => r.status === status).reduce((n, r) => n + r.tasks, 0);
  const completed = sum('COMPLETED');
  const failed = sum('FAILED');
  const timed = rows.filter((r) => r.status === 'COMPLETED').reduce((n, r) => n + r.timed, 0);
  const durationMs = rows.filter((r) => r.status === 'COMPLETED').reduce((n, r) => n + r.durationMs, 0);
  const byProvider = new Map<string, TaskStats['byProvider'][number]>();
  for (const r of rows) {
    const p = byProvider.get(r.providerId) ?? byProvider.set(r.providerId, { provider: r.providerId, total: 0, completed: 0, failed: 0 }).get(r.providerId)!;
    p.total += r.tasks;
    if (r.status === 'COMPLETED') p.completed += r.tasks;
    if (r.status === 'FAILED') p.failed += r.tasks;
  }
  return {
    total: rows.reduce((n, r) => n + r.tasks, 0),
    queued: sum('QUEUED'),
    processing: sum('PROCESSING'),
    completed,
    failed,
    cancelled: sum('CANCELLED'),
    successRate: completed + failed > 0 ? completed / (completed + failed) : null,
    avgDurationSeconds: timed > 0 ? durationMs / timed / 1000 : null,
    // readCounters orders by provider_id, like the scan.
    byProvider: [...byProvider.values()].filter((p) => p.total !== 0),
  };
}

/** Stats of `owner`'s tasks (null: every owner's) matching the filter. */
export async function getTaskStats(db: DbOrTx, owner: string | null, filter?: TaskFilter): Promise<TaskStats> {
  const counted = countersAnswer(filter) ? await readCounters(db, owner, filter, { withRemoved: true }) : null;
  if (counted) return fromCounters(counted);
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
