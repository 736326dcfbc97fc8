// The shared feed loads each change once for every subscriber, in order.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getTasksByIds } from '../../src/db/read-tasks.js';
import { DELIVERY_SLICE, TaskFeed } from '../../src/events/task-feed.js';
import { createLogger } from '../../src/logger.js';
import { cancelTaskRow, recordProgress, recordProgressBatch, transition } from '../../src/runner/transitions.js';
import { openTestStore, type TestStore } from '../support/store.js';

describe('TaskFeed', () => {
  let store: TestStore;
  let loads: string[][];
  let feed: TaskFeed;

  beforeEach(async () => {
    store = await openTestStore('pglite');
    loads = [];
    feed = new TaskFeed(store.events, (ids) => (loads.push(ids), getTasksByIds(store.database.db, ids)), createLogger('silent'));
  });
  afterEach(async () => {
    feed.close();
    await store.close();
  });

  it('one load per change however many subscribers watch the task', async () => {
    const task = await store.addTask();
    const watchers = Array.from({ length: 25 }, () => feed.watch((id) => id === task.id));
    const next = watchers.map((w) => w.next());
    await transition(store.database.db, task.id, { status: 'PROCESSING' });
    const batches = await Promise.all(next);
    expect(batches.every((b) => b.value!.rows.get(task.id)?.status === 'PROCESSING')).toBe(true);
    expect(loads).toEqual([[task.id]]);
    watchers.forEach((w) => w.close());
  });

  it('a change watched by more than a slice of subscribers reaches them over several turns, each slice whole before the next starts', async () => {
    const task = await store.addTask();
    const n = DELIVERY_SLICE * 2 + 10;
    const watchers = Array.from({ length: n }, () => feed.watchTask(task.id));
    // The turn (counted by setImmediate) in which each subscriber got the row.
    let turn = 0;
    let ticking = true;
    const tick = () => setImmediate(() => (turn++, ticking && tick()));
    const turns: number[] = [];
    const got = watchers.map((w, i) => w.next().then((r) => ((turns[i] = turn), r)));
    // One closes while the first slice is handed out: it ends, and nobody else is held up.
    void got[0]!.then(() => watchers[n - 1]!.close());
    tick();
    await transition(store.database.db, task.id, { status: 'PROCESSING' });
    const batches = await Promise.all(got);
    ticking = false;
    expect(batches.slice(0, n - 1).every((b) => b.value!.rows.get(task.id)?.status === 'PROCESSING')).toBe(true);
    expect(batches[n - 1]!.done).toBe(true);
    const slices = [...new Set(turns.slice(0, n - 1))];
    expect(slices).toHaveLength(3);
    // In order: the first slice wholly in one turn, the next in a later one.
    expect(turns.slice(0, DELIVERY_SLICE).every((t) => t === slices[0])).toBe(true);
    expect(turns.slice(DELIVERY_SLICE, 2 * DELIVERY_SLICE).every((t) => t === slices[1])).toBe(true);
    expect(slices[1]! > slices[0]! && slices[2]! > slices[1]!).toBe(true);
    expect(loads).toEqual([[task.id]]);
    watchers.forEach((w) => w.close());
  });

  it('coalesces to the latest row while a subscriber is busy, and ignores unwatched tasks', async () => {
    const task = await store.addTask();
    const other = await store.addTask();
    const w = feed.watch((id) => id === task.id);
    await transition(store.database.db, task.id, { status: 'PROCESSING', leaseOwner: 'r' });
    for (const p of [0.2, 0.5, 0.9]) await recordProgress(store.database.db, task.id, 'r', { progress: p }, false);
    await transition(store.database.db, other.id, { status: 'PROCESSING' });
    const seen: number[] = [];
    while (seen.at(-1) !== 0.9) {
      const { value } = await w.next();
      const row = value!.rows.get(task.id);
      if (row?.progress != null) seen.push(row.progress);
    }
    expect([...seen].sort()).toEqual(seen);
    expect(loads.flat()).not.toContain(other.id);
    w.close();
    expect((await w.next()).done).toBe(true);
  });

  it('a watcher that leaves out progress loads nothing for progress-only changes, but every other change', async () => {
    const task = await store.addTask();
    const w = feed.watch((id) => id === task.id, { progress: false });
    await transition(store.database.db, task.id, { status: 'PROCESSING', leaseOwner: 'r' });
    expect((await w.next()).value!.rows.get(task.id)?.status).toBe('PROCESSING');
    const next = w.next();
    for (const p of [0.2, 0.5]) {
      const item = { taskId: task.id, progress: p, upstreamStatus: 'running', message: null, nextPollAt: new Date() };
      expect(await recordProgressBatch(store.database.db, 'r', [item])).toEqual(new Set([task.id]));
    }
    // A change of status after those: its row comes, with the progress written before it.
    await cancelTaskRow(store.database.db, task.id);
    const row = (await next).value!.rows.get(task.id);
    expect([row?.status, row?.progress]).toEqual(['CANCELLED', 0.5]);
    expect(loads).toEqual([[task.id], [task.id]]);
    w.close();
  });

  it('a watcher of one task gets its progress-only changes', async () => {
    const task = await store.addTask();
    await transition(store.database.db, task.id, { status: 'PROCESSING', leaseOwner: 'r' });
    const w = feed.watchTask(task.id);
    const next = w.next();
    await recordProgressBatch(store.database.db, 'r', [{ taskId: task.id, progress: 0.4, upstreamStatus: 'running', message: false, nextPollAt: new Date() }]);
    expect((await next).value!.rows.get(task.id)?.progress).toBe(0.4);
    w.close();
  });

  it('watchers of one task (indexed by id) get their task only, share the one row and end with the feed', async () => {
    const task = await store.addTask();
    const other = await store.addTask();
    const mine = Array.from({ length: 3 }, () => feed.watchTask(task.id));
    const theirs = feed.watchTask(other.id);
    const next = mine.map((w) => w.next());
    const theirsNext = theirs.next();
    await transition(store.database.db, task.id, { status: 'PROCESSING' });
    const batches = await Promise.all(next);
    const rows = batches.map((b) => b.value!.rows.get(task.id));
    expect(rows[0]?.status).toBe('PROCESSING');
    // The same object for every watcher: what is built from it can be shared.
    expect(new Set(rows).size).toBe(1);
    expect(batches.every((b) => b.value!.rows.size === 1)).toBe(true);
    expect(loads).toEqual([[task.id]]);
    mine[0]!.close();
    await transition(store.database.db, other.id, { status: 'PROCESSING' });
    expect((await theirsNext).value!.rows.get(other.id)?.status).toBe('PROCESSING');
    feed.close();
    expect((await mine[1]!.next()).done).toBe(true);
    expect((await theirs.next()).done).toBe(true);
  });

  it("watchers of one owner (indexed by owner) get that owner's tasks only, one load for all, and end with the feed", async () => {
    const mine = await store.addTask({ owner: 'alice' });
    const theirs = await store.addTask({ owner: 'bob' });
    const alice = Array.from({ length: 3 }, () => feed.watchOwner('alice'));
    const bob = feed.watchOwner('bob');
    const aliceNext = alice.map((w) => w.next());
    const bobNext = bob.next();
    let bobDone = false;
    void bobNext.then(() => (bobDone = true));
    await transition(store.database.db, mine.id, { status: 'PROCESSING' });
    const batches = await Promise.all(aliceNext);
    const rows = batches.map((b) => b.value!.rows.get(mine.id));
    expect(rows[0]?.status).toBe('PROCESSING');
    expect(new Set(rows).size).toBe(1);
    expect(batches.every((b) => b.value!.rows.size === 1)).toBe(true);
    expect(loads).toEqual([[mine.id]]);
    // Bob's watcher was not handed Alice's change.
    await new Promise((r) => setTimeout(r, 50));
    expect(bobDone).toBe(false);
    await transition(store.database.db, theirs.id, { status: 'PROCESSING' });
    const b = (await bobNext).value!;
    expect([...b.rows.keys()]).toEqual([theirs.id]);
    alice[0]!.close();
    feed.close();
    expect((await alice[1]!.next()).done).toBe(true);
    expect((await bob.next()).done).toBe(true);
  });
});
