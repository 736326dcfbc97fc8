// The runner's batched writes of the tasks it holds (progress, lease renewal)
// are planned from the batch, whatever the statistics say
// (src/db/held-by.ts). The situation that went wrong: thousands of tasks just
// claimed, statistics from before (ANALYZE saw them QUEUED), so the planner
// thought a status index held a row or two and compared the batch with every
// PROCESSING task: 3 s for 500 progress writes with 10,000 jobs in flight.
// Postgres only (PGlite plans the same SQL, but has no autovacuum to lag).
import { randomUUID } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renewLeases, renewLeasesSql } from '../../src/db/renew-leases.js';
import { completeTasks, completeTasksSql, progressBatchSql, recordProgressBatch } from '../../src/runner/transitions.js';
import { postgresAvailable } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

const HELD = 3000;
const OWNER = 'runner-a';

describe.skipIf(!(await postgresAvailable()))('batched writes of held tasks under stale statistics', () => {
  let store: TestStore;
  let ids: string[];
  beforeAll(async () => {
    store = await openTestStore('postgres');
    const db = store.database.db;
    await db.execute(sql`alter table tasks set (autovacuum_enabled = false)`);
    ids = Array.from({ length: HELD }, () => randomUUID());
    await db.execute(sql`insert into tasks (id, owner, provider_id, prompt, status)
      select id, 'k', 'p', 'prompt', 'QUEUED' from unnest(${`{${ids.join(',')}}`}::uuid[]) as id`);
    await db.execute(sql`analyze tasks`);
    // A burst of claims the statistics have not seen.
    await db.execute(sql`update tasks set status = 'PROCESSING', lease_owner = ${OWNER}, lease_expires_at = now() + interval '1 minute', started_at = now()`);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  async function plan(statement: SQL): Promise<string> {
    const rows = (await store.database.db.execute(sql`explain ${statement}`)) as unknown as Array<Record<string, string>>;
    // Long literals (the batch) shortened: the plan is shown when an expectation fails.
    return rows.map((r) => String(Object.values(r)[0]).replace(/'[^']{80,}'/g, "'…'")).join('\n');
  }

  /**
   * Linear in the batch: tasks meets the batch in a hash join on the id or by the primary key
   * per batch row, never through a filter comparing each task with the whole batch (what the
   * stale estimates chose: a nested loop over a status index, or `id = ANY(…)` checked per row).
   */
  function expectPlannedFromBatch(shown: string): void {
    expect(shown, shown).toMatch(/Hash Cond: \(\(?(t\.id = v\S*\.id|v\S*\.id = t\.id)|Index Cond: \(id = v\S*\.id\)/);
    expect(shown, shown).not.toMatch(/Join Filter: \(t\.id = /);
    expect(shown, shown).not.toMatch(/Filter: .*id = ANY/);
  }

  it('a progress batch is planned from the batch, and records every held task', async () => {
    const items = ids.slice(0, 500).map((taskId, i) => ({ taskId, progress: i / 1000, upstreamStatus: 'running', message: false as const, nextPollAt: new Date() }));
    expectPlannedFromBatch(await plan(progressBatchSql(store.database.db, OWNER, items)));
    const kept = await recordProgressBatch(store.database.db, OWNER, items);
    expect(kept.size).toBe(500);
    // Another runner's batch changes nothing.
    expect((await recordProgressBatch(store.database.db, 'runner-b', items.slice(0, 10))).size).toBe(0);
  });

  it('a lease renewal of every held task is planned from the ids, and renews them all', async () => {
    expectPlannedFromBatch(await plan(renewLeasesSql(OWNER, ids, 30_000)));
    expect((await renewLeases(store.database.db, OWNER, ids, 30_000)).size).toBe(HELD);
    expect((await renewLeases(store.database.db, 'runner-b', ids.slice(0, 10), 30_000)).size).toBe(0);
  });

  it('a completion batch is planned from the batch, and completes every held task', async () => {
    // Last: it ends the tasks it completes.
    const items = ids.slice(500, 1000).map((taskId) => ({ taskId, result: { file: `${taskId}/result.mp4`, upstreamUrl: null, contentType: 'video/mp4', sizeBytes: 1, durationSeconds: null, width: 2, height: 2 }, mediaType: 'VIDEO' as const, upstreamStatus: 'done', cost: null }));
    expectPlannedFromBatch(await plan(completeTasksSql(store.database.db, OWNER, items)));
    expect((await completeTasks(store.database.db, 'runner-b', items.slice(0, 10))).size).toBe(0);
    expect((await completeTasks(store.database.db, OWNER, items)).size).toBe(500);
  });
});
