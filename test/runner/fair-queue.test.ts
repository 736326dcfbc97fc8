// Fair queueing: within a provider's queue, free slots go round-robin across
// owners (each owner's tasks in creation order), decided by the claim query so
// it holds across runners; queuePosition is the place in that order. On PGlite
// and Postgres.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fc } from '@fast-check/vitest';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pickQueuedFairly } from '../../src/db/fair-queue.js';
import { getQueuePositions } from '../../src/db/queue-positions.js';
import type { DbOrTx } from '../../src/db/client.js';
import { tasks, type TaskStatus } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import { HealthMonitor } from '../../src/providers/health.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { cancelTaskRow } from '../../src/runner/transitions.js';
import { Runner } from '../../src/runner/runner.js';
import { startTestApp } from '../support/app.js';
import { FakeProvider, fakeConfig } from '../support/fake-provider.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

const log = createLogger('silent');
const kinds = await databaseKinds();

interface Row {
  id: string;
  owner: string;
  providerId: string;
  status: TaskStatus;
  createdAt: Date;
  startedAt: Date | null;
}

/** The fair order of one provider's QUEUED tasks, by its definition (see src/db/fair-queue.ts). */
function referenceOrder(rows: Row[], providerId: string): string[] {
  const queued = rows.filter((r) => r.providerId === providerId && r.status === 'QUEUED');
  const byOwner = new Map<string, Row[]>();
  for (const r of queued) (byOwner.get(r.owner) ?? byOwner.set(r.owner, []).get(r.owner)!).push(r);
  const cmpTask = (a: Row, b: Row) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const turn = new Map<string, [number, number]>();
  for (const [owner, list] of byOwner) {
    list.sort(cmpTask);
    const started = rows.filter((r) => r.providerId === providerId && r.owner === owner && r.startedAt).map((r) => r.startedAt!.getTime());
    turn.set(owner, [started.length ? Math.max(...started) : -Infinity, list[0]!.createdAt.getTime()]);
  }
  const keyed = [...byOwner].flatMap(([owner, list]) => list.map((r, i) => ({ r, rank: i, turn: turn.get(owner)! })));
  keyed.sort((a, b) => a.rank - b.rank || a.turn[0] - b.turn[0] || a.turn[1] - b.turn[1] || (a.r.owner < b.r.owner ? -1 : a.r.owner > b.r.owner ? 1 : 0));
  return keyed.map((k) => k.r.id);
}

/** Tasks created within one millisecond tie on created_at (then id decides): give them distinct, ordered times. */
async function spaceOut(db: DbOrTx, ids: string[]) {
  const list = sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `);
  await db.execute(
    sql`update tasks t set created_at = now() - interval '1 hour' + o.n * interval '10 milliseconds'
        from unnest(array[${list}]) with ordinality as o (id, n) where t.id = o.id`,
  );
}

describe.each(kinds)('fair queue on %s', (kind) => {
  let store: TestStore;
  let dir: string;
  const runners: Runner[] = [];

  beforeEach(async () => {
    store = await openTestStore(kind);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-fair-'));
  });
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop(2000)));
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A runner whose tasks stay PROCESSING (the fake polls "processing" forever) until cancelled. */
  function startRunner(provider: FakeProvider, maxConcurrency: number) {
    const registry = ProviderRegistry.of([{ config: fakeConfig(provider.id, { maxConcurrency }), provider }]);
    const health = new HealthMonitor(registry, store.database.db, log);
    const runner = new Runner({ db: store.database.db, events: store.events, registry, health, filesDir: dir, log, leaseMs: 5000, concurrency: 16, maxAttempts: 3, idleMs: 100 });
    runner.start();
    runners.push(runner);
  }

  const processing = async () =>
    (await store.database.db.select({ id: tasks.id }).from(tasks).where(sql`${tasks.status} = 'PROCESSING'`)).map((r) => r.id);

  /** Free the only slot (cancel the running task) and return the task claimed next. */
  async function releaseAndNext(running: string): Promise<string> {
    await cancelTaskRow(store.database.db, running);
    await expect.poll(processing, { timeout: 15_000 }).toHaveLength(1);
    return (await processing())[0]!;
  }

  it('maxConcurrency 1: alice queues 20 tasks, then bob creates one: bob is claimed no later than second', async () => {
    startRunner(new FakeProvider(), 1);
    const alice = [];
    for (let i = 0; i < 20; i++) alice.push(await store.addTask({ owner: 'alice', prompt: `alice ${i}` }));
    await spaceOut(store.database.db, alice.map((a) => a.id));
    await store.waitFor(alice[0]!.id, (t) => t.status === 'PROCESSING');
    const bob = await store.addTask({ owner: 'bob', prompt: 'bob' });
    // Claim order: alice's first (already running), then bob's, then alice's others in creation order.
    const order = [alice[0]!.id];
    for (let i = 0; i < 3; i++) order.push(await releaseAndNext(order.at(-1)!));
    expect(order).toEqual([alice[0]!.id, bob.id, alice[1]!.id, alice[2]!.id]);
  });

  it('round-robin holds across two runners: the claim query decides, not a runner', async () => {
    const owners = ['alice', 'alice', 'bob', 'alice', 'bob', 'carol', 'alice', 'bob', 'alice', 'alice'];
    const made: Record<string, string[]> = { alice: [], bob: [], carol: [] };
    const all: string[] = [];
    for (const [i, owner] of owners.entries()) all.push((await store.addTask({ owner, prompt: `${owner} ${i}` })).id);
    for (const [i, owner] of owners.entries()) made[owner]!.push(all[i]!);
    await spaceOut(store.database.db, all);
    startRunner(new FakeProvider(), 1);
    startRunner(new FakeProvider(), 1);
    await expect.poll(processing, { timeout: 15_000 }).toHaveLength(1);
    const order = [(await processing())[0]!];
    while (order.length < owners.length) order.push(await releaseAndNext(order.at(-1)!));
    const { alice: a, bob: b, carol: c } = made as { alice: string[]; bob: string[]; carol: string[] };
    // Never-served owners first (by their oldest task), then whoever was served longest ago.
    expect(order).toEqual([a[0], b[0], c[0], a[1], b[1], a[2], b[2], a[3], a[4], a[5]]);
  });

  it('queuePosition and the claim follow the same fair order (property test against the definition)', async () => {
    const db = store.database.db;
    const base = Date.now() - 3_600_000;
    const taskArb = fc.record({
      owner: fc.constantFrom('ann', 'ben', 'cid', 'dee'),
      providerId: fc.constantFrom('p1', 'p2'),
      status: fc.constantFrom<TaskStatus>('QUEUED', 'QUEUED', 'QUEUED', 'PROCESSING', 'COMPLETED'),
      createdAt: fc.integer({ min: 0, max: 200 }),
      startedAt: fc.integer({ min: 0, max: 300 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(taskArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 12 }), async (spec, take) => {
        await db.execute(sql`truncate table tasks cascade`);
        const values = spec.map((s) => ({
          owner: s.owner,
          providerId: s.providerId,
          prompt: 'p',
          status: s.status,
          createdAt: new Date(base + s.createdAt * 1000),
          startedAt: s.status === 'QUEUED' ? null : new Date(base + s.startedAt * 1000),
          nextPollAt: new Date(base),
        }));
        const rows: Row[] = await db.insert(tasks).values(values).returning({ id: tasks.id, owner: tasks.owner, providerId: tasks.providerId, status: tasks.status, createdAt: tasks.createdAt, startedAt: tasks.startedAt });
        const positions = await getQueuePositions(db, rows.map((r) => r.id));
        for (const providerId of ['p1', 'p2']) {
          const expected = referenceOrder(rows, providerId);
          expect(expected.map((id) => positions.get(id))).toEqual(expected.map((_, i) => i + 1));
          expect(await db.transaction((tx) => pickQueuedFairly(tx, providerId, take))).toEqual(expected.slice(0, take));
        }
        expect(rows.filter((r) => r.status !== 'QUEUED').every((r) => !positions.has(r.id))).toBe(true);
      }),
      { numRuns: kind === 'pglite' ? 60 : 40 },
    );
  });
});

describe.each(kinds)('queuePosition through the API on %s', (kind) => {
  it('is the place in the fair order', async () => {
    const ALICE = 'alice-key-123456';
    const BOB = 'bob-key-1234567';
    const t = await startTestApp({ db: kind, env: { REELAY_API_KEYS: `alice:${ALICE},bob:${BOB}` }, configure: (c) => (c.role = 'api') });
    try {
      const create = async (prompt: string, key: string) =>
        (await t.gql(`mutation($p: String!) { createVideoTask(input: { prompt: $p }) { ... on CreateVideoTaskSuccess { task { id queuePosition } } } }`, { p: prompt }, key)).data.createVideoTask.task;
      const alice = [];
      for (let i = 0; i < 20; i++) alice.push(await create(`alice ${i}`, ALICE));
      expect(alice[0].queuePosition).toBe(1);
      expect(alice[19].queuePosition).toBe(20);
      await spaceOut(t.app.services.database.db, alice.map((a) => a.id));
      const bob = await create('bob', BOB);
      // Round 1: alice's first, bob's first; then alice's others.
      expect(bob.queuePosition).toBe(2);
      const positions = async (ids: string[], key: string) =>
        Promise.all(ids.map(async (id) => (await t.gql(`query($id: ID!) { task(id: $id) { queuePosition } }`, { id }, key)).data.task.queuePosition));
      expect(await positions(alice.map((a) => a.id), ALICE)).toEqual([1, ...Array.from({ length: 19 }, (_, i) => i + 3)]);
      // Alice's first starts: bob (never served) is next, then alice's in creation order.
      await t.app.services.database.db.execute(sql`update tasks set status = 'PROCESSING', started_at = now() where id = ${alice[0].id}::uuid`);
      expect(await positions([bob.id], BOB)).toEqual([1]);
      expect(await positions(alice.slice(1, 4).map((a) => a.id), ALICE)).toEqual([2, 3, 4]);
      expect(await positions([alice[0].id], ALICE)).toEqual([null]);
    } finally {
      await t.stop();
    }
  });
});
