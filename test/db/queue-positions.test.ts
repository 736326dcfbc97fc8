// queuePosition from the counters and a count from the nearer end of an
// owner's queue (src/db/queue-positions.ts) equals the former computation (a
// count per task; kept in test/support/queue-positions-scan.ts as the oracle)
// on random queues, for pages, scattered picks and single tasks, with deltas
// rolled up or not and before the counters are back-filled. PGlite and Postgres.
import { fc } from '@fast-check/vitest';
import { sql, TransactionRollbackError } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getQueuePositions } from '../../src/db/queue-positions.js';
import { rollUpCounts } from '../../src/db/roll-up-counts.js';
import { tasks, type TaskStatus } from '../../src/db/schema.js';
import { databaseKinds } from '../support/postgres.js';
import { scanQueuePositions } from '../support/queue-positions-scan.js';
import { openTestStore, type TestStore } from '../support/store.js';

const kinds = await databaseKinds();

describe.each(kinds)('queue positions on %s', (kind) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(kind);
  });
  afterAll(async () => {
    await store.close();
  });

  it('equal the former per-task computation on random queues', async () => {
    const db = store.database.db;
    const base = Date.now() - 86_400_000;
    const taskArb = fc.record({
      owner: fc.constantFrom('ann', 'ben', 'cid'),
      providerId: fc.constantFrom('p1', 'p2'),
      status: fc.constantFrom<TaskStatus>('QUEUED', 'QUEUED', 'QUEUED', 'QUEUED', 'PROCESSING', 'COMPLETED'),
      createdAt: fc.integer({ min: 0, max: 5000 }),
      startedAt: fc.integer({ min: 0, max: 6000 }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(taskArb, { minLength: 1, maxLength: 160 }),
        fc.integer({ min: 0, max: 159 }),
        fc.integer({ min: 1, max: 60 }),
        fc.boolean(),
        async (spec, from, size, rollUp) => {
          await db.execute(sql`truncate table tasks cascade`);
          const rows = await db
            .insert(tasks)
            .values(
              spec.map((s) => ({
                owner: s.owner,
                providerId: s.providerId,
                prompt: 'p',
                status: s.status,
                createdAt: new Date(base + s.createdAt * 1000),
                startedAt: s.status === 'QUEUED' && s.startedAt % 3 ? null : new Date(base + s.startedAt * 1000),
              })),
            )
            .returning({ id: tasks.id, createdAt: tasks.createdAt, status: tasks.status });
          if (rollUp) while ((await rollUpCounts(db, 50)) > 0);
          // A page of the list (newest first), a scattered pick, and one task.
          const newestFirst = [...rows].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1)).map((r) => r.id);
          const batches = [newestFirst.slice(from, from + size), newestFirst.filter((_, i) => i % 7 === from % 7), [newestFirst[from % newestFirst.length]!]];
          for (const ids of batches) {
            const want = await scanQueuePositions(db, ids);
            expect(want.size).toBe(rows.filter((r) => r.status === 'QUEUED' && ids.includes(r.id)).length);
            expect(await getQueuePositions(db, ids)).toEqual(want);
            // Before the counters are back-filled (an upgrade in progress): per-owner counts instead, same answer.
            let before: Map<string, number> | undefined;
            await db
              .transaction(async (tx) => {
                await tx.execute(sql`delete from maintenance_done`);
                before = await getQueuePositions(tx, ids);
                tx.rollback();
              })
              .catch((err: unknown) => {
                if (!(err instanceof TransactionRollbackError)) throw err;
              });
            expect(before).toEqual(want);
          }
        },
      ),
      { numRuns: kind === 'pglite' ? 40 : 25 },
    );
  });
});
