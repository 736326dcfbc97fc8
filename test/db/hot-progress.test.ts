// Progress writes of many jobs are HOT updates: the runner's batched progress
// UPDATE changes no indexed column of tasks (not change_xid, and next_poll_at is
// in no index once tasks_due is replaced by tasks_active), and the table leaves
// room on its pages for new row versions (fillfactor 85). A HOT update writes
// no index entry, which is what keeps API reads fast with thousands of jobs
// reporting progress.
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execRows } from '../../src/db/client.js';
import { buildOnlineIndexes } from '../../src/db/online-indexes.js';
import { claimDueTasks } from '../../src/runner/claim.js';
import { recordProgressBatch } from '../../src/runner/transitions.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

describe.each(await databaseKinds())('progress writes on %s', (kind) => {
  let store: TestStore;
  beforeEach(async () => {
    store = await openTestStore(kind);
  });
  afterEach(async () => {
    await store.close();
  });

  it('tasks_due is replaced by tasks_active once that one is valid, and tasks has fillfactor 85', async () => {
    const db = store.database.db;
    const names = async () => (await execRows<{ name: string }>(db, sql`select indexname as name from pg_indexes where tablename = 'tasks'`)).map((r) => r.name);
    expect(await names()).toContain('tasks_active');
    expect(await names()).not.toContain('tasks_due');
    const [rel] = await execRows<{ options: string[] | null }>(db, sql`select reloptions as options from pg_class where oid = 'tasks'::regclass`);
    expect(rel!.options).toContain('fillfactor=85');
    // As a deployment that has not dropped it yet: it goes once tasks_active is valid, not before.
    await db.execute(sql`create index tasks_due on tasks (status, next_poll_at) where status in ('QUEUED', 'PROCESSING')`);
    await db.execute(sql`update pg_index set indisvalid = false where indexrelid = 'tasks_active'::regclass`);
    expect(await buildOnlineIndexes(db, store.database.driver)).toMatchObject({ rebuilt: ['tasks_active'], dropped: ['tasks_due'] });
    expect(await names()).not.toContain('tasks_due');
    expect(await buildOnlineIndexes(db, store.database.driver)).toMatchObject({ built: [], rebuilt: [], dropped: [] });
  });

  it('are HOT updates: no index of tasks is written', async () => {
    const db = store.database.db;
    // Few rows, so that every new version fits on their page even if nothing is pruned meanwhile.
    for (let i = 0; i < 4; i++) await store.addTask({ prompt: `a long enough prompt for a trigram index, number ${i}` });
    const claimed = await claimDueTasks(db, { owner: 'r1', leaseMs: 60_000, limit: 4, providers: [{ id: 'fake', maxConcurrency: 4 }] });
    expect(claimed).toHaveLength(4);
    const counts = async () => {
      const [row] = await execRows<{ upd: string; hot: string }>(db, sql`select n_tup_upd::text as upd, n_tup_hot_upd::text as hot from pg_stat_user_tables where relname = 'tasks'`);
      return { upd: Number(row!.upd), hot: Number(row!.hot) };
    };
    // Statistics reach the view when the writing backend flushes them (within about a second).
    const flushed = async (expectUpd: number) => {
      for (let i = 0; i < 100; i++) {
        await db.execute(sql`select pg_stat_clear_snapshot()`);
        const c = await counts();
        if (c.upd >= expectUpd) return c;
        await new Promise((r) => setTimeout(r, 100));
      }
      return counts();
    };
    const before = await flushed(4);
    for (let round = 1; round <= 5; round++) {
      const kept = await recordProgressBatch(
        db,
        'r1',
        claimed.map((t) => ({ taskId: t.id, progress: round / 10, upstreamStatus: 'running', message: false as const, nextPollAt: new Date(Date.now() + round * 1000) })),
      );
      expect(kept.size).toBe(4);
    }
    const after = await flushed(before.upd + 20);
    expect(after.upd - before.upd).toBe(20);
    // A write that changed an indexed column (change_xid, or next_poll_at while tasks_due had it) is never HOT.
    expect(after.hot - before.hot).toBe(20);
  });
});
