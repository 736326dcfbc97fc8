// The subscription generators against a feed whose notifications the test
// drives: rows whose updated_at runs backwards, late and repeated rows, and
// changes the feed never heard of (missed notifications) until a re-sync.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskRow } from '../../src/db/schema.js';
import type { TaskEvents } from '../../src/events/bus.js';
import { TaskFeed, type FeedBatch } from '../../src/events/task-feed.js';
import { createLogger } from '../../src/logger.js';
import { cancelTaskRow, recordProgress, recordProgressBatch, transition } from '../../src/runner/transitions.js';
import type { Context } from '../../src/schema/context.js';
import { watchTask, watchTasks } from '../../src/schema/subscriptions.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

/** Notifications as the test says: nothing reaches the feed unless the test sends it. */
class DrivenEvents {
  private tasks = new Set<(id: string, mark: number | null) => void>();
  private resyncs = new Set<() => void>();
  onTask(fn: (id: string, mark: number | null) => void) {
    this.tasks.add(fn);
    return () => void this.tasks.delete(fn);
  }
  onResync(fn: () => void) {
    this.resyncs.add(fn);
    return () => void this.resyncs.delete(fn);
  }
  onMark() {
    return () => {};
  }
  notify(id: string, mark: number | null = null) {
    for (const fn of this.tasks) fn(id, mark);
  }
  reconnect() {
    for (const fn of this.resyncs) fn();
  }
}

const log = createLogger('silent');

/** The next value, or a failure naming what was awaited (instead of a hang). */
async function next<T>(it: AsyncIterator<T>, what: string, ms = 5000): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  try {
    return await Promise.race([it.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('TaskFeed re-sync bound', () => {
  it('is the highest mark whose rows were handed out; a failed load does not raise it', async () => {
    const events = new DrivenEvents();
    let fail = false;
    const feed = new TaskFeed(events as unknown as TaskEvents, async (ids) => {
      if (fail) throw new Error('database away');
      return ids.map((id) => ({ id }) as TaskRow);
    }, log);
    const w = feed.watch(() => true);
    const take = async () => (await next(w, 'batch')).value as FeedBatch;
    events.notify('a', 10);
    expect((await take()).rows.has('a')).toBe(true);
    events.notify('b', 20);
    expect((await take()).settled).toBe(20);
    events.reconnect();
    expect(await take()).toMatchObject({ resync: true, since: 20 });
    fail = true;
    events.notify('c', 30);
    expect(await take()).toMatchObject({ resync: true, since: 20, rows: new Map() });
    w.close();
    feed.close();
  });

  it('is unknown before anything was handed out', async () => {
    const events = new DrivenEvents();
    const feed = new TaskFeed(events as unknown as TaskEvents, async () => [], log);
    const w = feed.watch(() => true);
    events.reconnect();
    expect((await next(w, 'batch')).value).toMatchObject({ resync: true, since: null });
    feed.close();
  });
});

describe.each(await databaseKinds())('subscriptions on %s', (kind) => {
  let store: TestStore;
  let events: DrivenEvents;
  let feed: TaskFeed;
  /** What the feed's loads return per task id (the test decides). */
  let served: Map<string, TaskRow>;
  let ctx: Context;

  beforeEach(async () => {
    store = await openTestStore(kind);
    events = new DrivenEvents();
    served = new Map();
    feed = new TaskFeed(events as unknown as TaskEvents, async (ids) => ids.flatMap((id) => served.get(id) ?? []), log);
    ctx = { owner: 'tester', services: { database: store.database, feed } } as unknown as Context;
  });
  afterEach(async () => {
    feed.close();
    await store.close();
  });

  const later = (row: TaskRow, over: Partial<TaskRow>, secondsFromCreate: number): TaskRow => ({ ...row, ...over, updatedAt: new Date(row.createdAt.getTime() + secondsFromCreate * 1000) });

  it('taskUpdated delivers a cancel whose transaction began before the claim, and completes', async () => {
    const task = await store.addTask();
    const it = watchTask(task.id, ctx);
    expect((await next(it, 'first row')).value).toMatchObject({ status: 'QUEUED' });
    served.set(task.id, later(task, { status: 'PROCESSING', version: 2 }, 10));
    events.notify(task.id);
    expect((await next(it, 'PROCESSING')).value).toMatchObject({ status: 'PROCESSING' });
    // Committed after the claim, but its updated_at (transaction start) is older.
    served.set(task.id, later(task, { status: 'CANCELLED', version: 3 }, 5));
    events.notify(task.id);
    expect((await next(it, 'CANCELLED')).value).toMatchObject({ status: 'CANCELLED', version: 3 });
    expect((await next(it, 'completion')).done).toBe(true);
  });

  it('tasksUpdated with ready: null first, once registered, and then the very next change', async () => {
    const task = await store.addTask();
    const it = watchTasks({}, ctx, { ready: true });
    expect(await next(it, 'the ready null')).toEqual({ value: null, done: false });
    // One notification, sent once: no announcing until the watch is live.
    served.set(task.id, later(task, { status: 'CANCELLED', version: 2 }, 1));
    events.notify(task.id);
    expect((await next(it, 'the change after ready')).value).toMatchObject({ id: task.id, status: 'CANCELLED' });
    await it.return(undefined);
  });

  it('tasksUpdated orders by version: late older rows and repeats are dropped', async () => {
    const task = await store.addTask();
    const marker = await store.addTask();
    const it = watchTasks({}, ctx);
    const first = it.next();
    // Live once the watch is registered: keep announcing the task until it shows.
    served.set(task.id, later(task, { status: 'PROCESSING', version: 2 }, 10));
    const announce = setInterval(() => events.notify(task.id), 20);
    const got = await first;
    clearInterval(announce);
    expect(got.value).toMatchObject({ id: task.id, status: 'PROCESSING' });
    served.set(task.id, later(task, { status: 'CANCELLED', version: 3 }, 5));
    events.notify(task.id);
    expect((await next(it, 'CANCELLED')).value).toMatchObject({ id: task.id, status: 'CANCELLED' });
    for (const stale of [later(task, { status: 'PROCESSING', version: 2 }, 10), later(task, { status: 'CANCELLED', version: 3 }, 5)]) {
      served.set(task.id, stale);
      events.notify(task.id);
    }
    served.set(marker.id, later(marker, { status: 'PROCESSING', version: 2 }, 1));
    events.notify(marker.id);
    expect((await next(it, 'marker')).value).toMatchObject({ id: marker.id });
    await it.return(undefined);
  });

  it('tasksUpdated re-reads what changed while notifications were missed, once each', async () => {
    const before = await store.addTask({ prompt: 'changed before the subscription' });
    await cancelTaskRow(store.database.db, before.id);
    const probe = await store.addTask({ prompt: 'probe' });
    const a = await store.addTask({ prompt: 'missed a' });
    const b = await store.addTask({ prompt: 'missed b' });
    const unmatched = await store.addTask({ prompt: 'other provider', providerId: 'elsewhere' });
    const theirs = await store.addTask({ owner: 'someone-else', prompt: 'not yours' });
    const it = watchTasks({ provider: 'fake' }, ctx);
    const first = it.next();
    served.set(probe.id, probe);
    const announce = setInterval(() => events.notify(probe.id), 20);
    expect((await first).value).toMatchObject({ id: probe.id });
    clearInterval(announce);

    // Real changes the feed never hears of (as while LISTEN reconnects).
    await cancelTaskRow(store.database.db, a.id);
    await transition(store.database.db, b.id, { status: 'PROCESSING', leaseOwner: 'r' });
    await recordProgress(store.database.db, b.id, 'r', { progress: 0.5 }, false);
    await cancelTaskRow(store.database.db, unmatched.id);
    await cancelTaskRow(store.database.db, theirs.id);
    events.reconnect();
    const sentinel = await store.addTask({ prompt: 'sentinel' });
    const resynced: TaskRow[] = [];
    const pulling = (async () => {
      for (;;) {
        const row = (await next(it, 'a re-read task or the sentinel')).value as TaskRow;
        if (row.id === sentinel.id) return;
        resynced.push(row);
        if (resynced.some((r) => r.id === a.id) && resynced.some((r) => r.id === b.id)) {
          served.set(sentinel.id, sentinel);
          events.notify(sentinel.id);
        }
      }
    })();
    await pulling;
    const byId = new Map(resynced.map((r) => [r.id, r]));
    expect(byId.get(a.id)).toMatchObject({ status: 'CANCELLED' });
    expect(byId.get(b.id)).toMatchObject({ status: 'PROCESSING', progress: 0.5 });
    expect(resynced).toHaveLength(byId.size); // each task once
    for (const id of [probe.id, unmatched.id, theirs.id]) expect(byId.has(id)).toBe(false);
    // With no other transaction running (PGlite), the mark taken at subscription start excludes older changes exactly.
    if (kind === 'pglite') expect(byId.has(before.id)).toBe(false);
    await it.return(undefined);
  });

  it('tasksUpdated re-reads a PROCESSING task whose batched progress write was missed (such writes keep change_xid)', async () => {
    const task = await store.addTask({ prompt: 'in flight' });
    const running = (await transition(store.database.db, task.id, { status: 'PROCESSING', leaseOwner: 'r' }))!;
    const it = watchTasks({ provider: 'fake' }, ctx);
    const first = it.next();
    served.set(task.id, running);
    const announce = setInterval(() => events.notify(task.id), 20);
    expect((await first).value).toMatchObject({ id: task.id, status: 'PROCESSING', progress: null });
    clearInterval(announce);

    // The runner's progress write, whose notification the feed never hears of.
    const kept = await recordProgressBatch(store.database.db, 'r', [{ taskId: task.id, progress: 0.7, upstreamStatus: 'running', message: false, nextPollAt: new Date(Date.now() + 5000) }]);
    expect(kept.has(task.id)).toBe(true);
    const after = await store.get(task.id);
    // A new version, but no new change_xid: the UPDATE changes no indexed column (a HOT update).
    expect(after).toMatchObject({ progress: 0.7, version: running.version + 1, changeXid: running.changeXid });
    events.reconnect();
    expect((await next(it, 'the missed progress')).value).toMatchObject({ id: task.id, status: 'PROCESSING', progress: 0.7, version: running.version + 1 });
    await it.return(undefined);
  });
});
