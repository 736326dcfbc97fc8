// Live updates from the shared task feed. taskUpdated: the current state
// first, then every change, complete after a terminal state. tasksUpdated:
// every change of the client's tasks matching a filter, for dashboards.
import { GraphQLError } from 'graphql';
import { isUuid } from '../db/cursor.js';
import { getTask } from '../db/read-tasks.js';
import { TERMINAL_STATUSES, type TaskRow } from '../db/schema.js';
import type { TaskFilter } from '../db/task-filter.js';
import { builder } from './builder.js';
import type { Context } from './context.js';
import { filterFrom } from './queries.js';
import { TaskFilterInput, VideoTaskRef } from './task.js';

const versionOf = (r: TaskRow) => `${r.updatedAt.getTime()}|${r.status}|${r.progress}`;

export function matchesFilter(r: TaskRow, f: TaskFilter): boolean {
  if (f.status?.length && !f.status.includes(r.status)) return false;
  if (f.provider && r.providerId !== f.provider) return false;
  if (f.model && r.model !== f.model) return false;
  if (f.createdAfter && r.createdAt < f.createdAfter) return false;
  if (f.createdBefore && r.createdAt >= f.createdBefore) return false;
  if (f.search?.trim() && !r.prompt.toLowerCase().includes(f.search.trim().toLowerCase())) return false;
  return true;
}

async function* watchTask(id: string, ctx: Context): AsyncGenerator<TaskRow> {
  const db = ctx.services.database.db;
  // Watch before the first read so nothing between the two is missed.
  const changes = ctx.services.feed.watch((tid) => tid === id);
  try {
    const first = isUuid(id) ? await getTask(db, id, ctx.owner) : undefined;
    if (!first) throw new GraphQLError(`no task ${id}`, { extensions: { code: 'NOT_FOUND' } });
    let row: TaskRow = first;
    yield row;
    let seen = versionOf(row);
    while (!TERMINAL_STATUSES.includes(row.status)) {
      const { value: batch, done } = await changes.next();
      if (done) return;
      const next: TaskRow | undefined = batch.rows.get(id) ?? (batch.resync ? await getTask(db, id, ctx.owner) : row);
      if (!next || next.owner !== ctx.owner) return;
      // A row loaded before our first read may arrive after it: never go back in time.
      if (next.updatedAt < row.updatedAt) continue;
      row = next;
      if (versionOf(row) !== seen) {
        seen = versionOf(row);
        yield row;
      }
    }
  } finally {
    changes.close();
  }
}

async function* watchTasks(filter: TaskFilter, ctx: Context): AsyncGenerator<TaskRow> {
  const changes = ctx.services.feed.watch(() => true);
  const seen = new Map<string, { version: string; at: Date }>();
  try {
    for await (const batch of changes) {
      for (const row of batch.rows.values()) {
        if (row.owner !== ctx.owner || !matchesFilter(row, filter)) continue;
        const last = seen.get(row.id);
        if (last && (last.version === versionOf(row) || row.updatedAt < last.at)) continue;
        if (TERMINAL_STATUSES.includes(row.status)) seen.delete(row.id);
        else seen.set(row.id, { version: versionOf(row), at: row.updatedAt });
        yield row;
      }
    }
  } finally {
    changes.close();
  }
}

builder.subscriptionFields((t) => ({
  taskUpdated: t.field({
    type: VideoTaskRef,
    nullable: true,
    description: 'The current state at once, then every change; completes after COMPLETED, FAILED or CANCELLED.',
    args: { id: t.arg.id({ required: true }) },
    subscribe: (_r, args, ctx) => watchTask(String(args.id), ctx),
    resolve: (row) => row,
  }),
  tasksUpdated: t.field({
    type: VideoTaskRef,
    nullable: true,
    description: "Every change to the calling client's tasks that match the filter.",
    args: { filter: t.arg({ type: TaskFilterInput }) },
    subscribe: (_r, args, ctx) => watchTasks(filterFrom(args.filter), ctx),
    resolve: (row) => row,
  }),
}));
