// Live updates from the shared task feed. taskUpdated: the current state
// first, then every change, complete after a terminal state. tasksUpdated:
// every change of the client's tasks matching a filter, for dashboards; after
// missed notifications (a LISTEN reconnect) it re-reads what changed meanwhile.
// With `ready: true` it first sends null once the watch is registered, so a
// client that reads its list after that null misses no change (there is no
// other way to know: graphql-ws does not acknowledge a subscribe).
// Rows of a task are ordered by their version (src/events/versions.ts).
import { GraphQLError } from 'graphql';
import { changedTasksSince, currentMark } from '../db/changed-tasks.js';
import { isUuid } from '../db/cursor.js';
import { getTask } from '../db/read-tasks.js';
import { TERMINAL_STATUSES, type TaskRow } from '../db/schema.js';
import type { TaskFilter } from '../db/task-filter.js';
import { isNewer, SeenVersions } from '../events/versions.js';
import { builder } from './builder.js';
import type { Context } from './context.js';
import { filterFrom } from './queries.js';
import { TaskFilterInput, VideoTaskRef } from './task.js';

export function matchesFilter(r: TaskRow, f: TaskFilter): boolean {
  if (f.status?.length && !f.status.includes(r.status)) return false;
  if (f.provider && r.providerId !== f.provider) return false;
  if (f.model && r.model !== f.model) return false;
  if (f.createdAfter && r.createdAt < f.createdAfter) return false;
  if (f.createdBefore && r.createdAt >= f.createdBefore) return false;
  if (f.search?.trim() && !r.prompt.toLowerCase().includes(f.search.trim().toLowerCase())) return false;
  return true;
}

export async function* watchTask(id: string, ctx: Context): AsyncGenerator<TaskRow> {
  const db = ctx.services.database.db;
  // Watch before the first read so nothing between the two is missed.
  const changes = ctx.services.feed.watchTask(id);
  try {
    const first = isUuid(id) ? await getTask(db, id, ctx.owner) : undefined;
    if (!first) throw new GraphQLError(`no task ${id}`, { extensions: { code: 'NOT_FOUND' } });
    let row: TaskRow = first;
    yield row;
    while (!TERMINAL_STATUSES.includes(row.status)) {
      const { value: batch, done } = await changes.next();
      if (done) return;
      let next = batch.rows.get(id);
      if (batch.resync) {
        // The batch's row may predate the missed change: read the row itself.
        const fresh = await getTask(db, id, ctx.owner);
        if (!fresh) return;
        if (isNewer(fresh, next)) next = fresh;
      }
      if (!next) continue;
      if (next.owner !== ctx.owner) return;
      // A row loaded before our first read may arrive after it: never go back.
      if (!isNewer(next, row)) continue;
      row = next;
      yield row;
    }
  } finally {
    changes.close();
  }
}

export async function* watchTasks(filter: TaskFilter, ctx: Context, opts: { ready?: boolean } = {}): AsyncGenerator<TaskRow | null> {
  const db = ctx.services.database.db;
  // Taken before watching: a change committed after the watch began has a
  // change_xid at or above it, so a re-sync from here misses nothing.
  const start = await currentMark(db);
  const changes = ctx.services.feed.watchOwner(ctx.owner);
  const seen = new SeenVersions();
  // Every row of the client's tasks updates the bookkeeping, matching or not.
  const take = (row: TaskRow) => row.owner === ctx.owner && seen.offer(row) && matchesFilter(row, filter);
  try {
    // Registered: every change from here on is delivered (buffered while this waits to be read).
    if (opts.ready) yield null;
    for await (const batch of changes) {
      for (const row of batch.rows.values()) if (take(row)) yield row;
      if (batch.resync) {
        for await (const page of changedTasksSince(db, ctx.owner, filter, Math.max(start, batch.since ?? start))) {
          for (const row of page) if (take(row)) yield row;
        }
      }
      seen.prune(Math.max(start, batch.settled ?? start));
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
    description:
      "Every change to the calling client's tasks that match the filter. With `ready: true` the first event is null, sent once the subscription is registered: a list read after it misses no change.",
    args: {
      filter: t.arg({ type: TaskFilterInput }),
      ready: t.arg.boolean({ defaultValue: false }),
    },
    subscribe: (_r, args, ctx) => watchTasks(filterFrom(args.filter), ctx, { ready: args.ready === true }),
    resolve: (row) => row,
  }),
}));
