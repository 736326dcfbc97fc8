// The runner's batched completion (transitions.completeTasks): one statement
// whose text is the same for every batch size (prepared and planned once, one
// round trip), which completes the held tasks with their results and costs,
// records their history, notifies (with a wake), and leaves other runners'
// tasks alone. On PGlite and Postgres.
import { eq, inArray, sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskEvents, tasks, type TaskResult } from '../../src/db/schema.js';
import { completeTasks, completeTasksSql, type CompletionItem } from '../../src/runner/transitions.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

const OWNER = 'runner-a';
const kinds = await databaseKinds();
const dialect = new PgDialect();
const query = (statement: SQL) => dialect.sqlToQuery(statement);

const resultOf = (id: string): TaskResult => ({ file: `${id}/result.mp4`, upstreamUrl: `http://up.test/${id}.mp4`, contentType: 'video/mp4', sizeBytes: 1234, durationSeconds: 2.5, width: 64, height: 48 });
const item = (taskId: string, i: number): CompletionItem => ({
  taskId,
  result: resultOf(taskId),
  mediaType: 'VIDEO',
  upstreamStatus: `done-${i}`,
  cost: i % 2 ? { amount: 0.25 * i, currency: 'USD' } : null,
});

describe.each(kinds)('batched completions (%s)', (kind) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(kind);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  async function held(n: number, owner = OWNER): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await store.addTask()).id);
    await store.database.db.update(tasks).set({ status: 'PROCESSING', leaseOwner: owner, leaseExpiresAt: new Date(Date.now() + 60_000), startedAt: new Date() }).where(inArray(tasks.id, ids));
    return ids;
  }

  it('is one statement whose text does not depend on the batch size', async () => {
    const db = store.database.db;
    const ids = await held(3);
    const text = (items: CompletionItem[]) => query(completeTasksSql(db, OWNER, items)).sql;
    expect(text(ids.slice(0, 1).map(item))).toBe(text(ids.map(item)));
    // The batch is one parameter: as many parameters for one task as for three.
    const params = (items: CompletionItem[]) => query(completeTasksSql(db, OWNER, items)).params.length;
    expect(params(ids.slice(0, 1).map(item))).toBe(params(ids.map(item)));
  });

  it('completes the held tasks with their results, history and a wake, and no one else’s', async () => {
    const db = store.database.db;
    const mine = await held(3);
    const [theirs] = await held(1, 'runner-b');
    let wakes = 0;
    const heard = new Set<string>();
    const offWake = store.events.onWake(() => wakes++);
    const offTask = store.events.onTask((id) => heard.add(id));
    try {
      const items = [...mine, theirs!].map(item);
      const kept = await completeTasks(db, OWNER, items);
      expect([...kept].sort()).toEqual([...mine].sort());
      const rows = await db.select().from(tasks).where(inArray(tasks.id, [...mine, theirs!]));
      for (const [i, id] of mine.entries()) {
        const row = rows.find((r) => r.id === id)!;
        expect(row).toMatchObject({ status: 'COMPLETED', progress: 1, mediaType: 'VIDEO', upstreamStatus: `done-${i}`, leaseOwner: null, leaseExpiresAt: null, result: resultOf(id) });
        expect(row.completedAt).toBeInstanceOf(Date);
        expect(row.costAmount).toBe(i % 2 ? 0.25 * i : null);
        expect(row.costCurrency).toBe(i % 2 ? 'USD' : null);
        expect(row.version).toBeGreaterThan(1);
        const history = await db.select().from(taskEvents).where(eq(taskEvents.taskId, id));
        expect(history.filter((e) => e.status === 'COMPLETED').map((e) => [e.progress, e.message])).toEqual([[1, 'completed']]);
      }
      const other = rows.find((r) => r.id === theirs)!;
      expect(other).toMatchObject({ status: 'PROCESSING', leaseOwner: 'runner-b', result: null });
      expect(await db.select().from(taskEvents).where(sql`${taskEvents.taskId} = ${theirs!} and ${taskEvents.status} = 'COMPLETED'`)).toHaveLength(0);
      // A second completion of the same tasks changes nothing: they are no longer held.
      expect((await completeTasks(db, OWNER, items)).size).toBe(0);
      await expect.poll(() => mine.every((id) => heard.has(id)) && wakes > 0).toBe(true);
      expect(heard.has(theirs!)).toBe(false);
    } finally {
      offWake();
      offTask();
    }
  });
});
