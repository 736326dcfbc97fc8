// The running tasks of each provider (src/db/list-running-tasks.ts), for the
// estimated wait of queued tasks: each provider's latest `limit` started
// PROCESSING tasks, start times (to the millisecond) and progress exactly as
// stored, though they travel as one row of arrays per provider. On PGlite and Postgres.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listRunningTasks } from '../../src/db/list-running-tasks.js';
import { tasks } from '../../src/db/schema.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

describe.each(await databaseKinds())('listRunningTasks on %s', (kind) => {
  let store: TestStore;
  beforeEach(async () => {
    store = await openTestStore(kind);
  });
  afterEach(async () => {
    await store.close();
  });

  it("returns each provider's latest started, exactly as stored, once per provider however often it is named", async () => {
    const db = store.database.db;
    const base = Date.UTC(2026, 2, 10, 12, 0, 0, 123);
    // p1: five running (one with no start time), with awkward progress values; one queued and one finished, not running.
    const progress = [null, 0.1, 1 / 3, 0.999999999999, 1e-7];
    await db.insert(tasks).values([
      ...progress.map((p, i) => ({ owner: 'o', providerId: 'p1', prompt: `r${i}`, status: 'PROCESSING' as const, startedAt: new Date(base + i * 1001), progress: p })),
      { owner: 'o', providerId: 'p1', prompt: 'no start', status: 'PROCESSING' as const, startedAt: null, progress: 0.5 },
      { owner: 'o', providerId: 'p1', prompt: 'queued', status: 'QUEUED' as const },
      { owner: 'o', providerId: 'p1', prompt: 'done', status: 'COMPLETED' as const, startedAt: new Date(base), completedAt: new Date(base + 5000) },
      { owner: 'x', providerId: 'p2', prompt: 'other', status: 'PROCESSING' as const, startedAt: new Date(base - 7), progress: 0.25 },
    ]);
    const running = await listRunningTasks(db, [
      { providerId: 'p1', limit: 10 },
      { providerId: 'p2', limit: 1 },
      { providerId: 'p1', limit: 10 },
      { providerId: 'none', limit: 5 },
    ]);
    const started = (ms: number) => new Date(ms);
    // Latest first; a task without a start time sorts first, as `order by started_at desc` puts nulls.
    expect(running.get('p1')).toEqual([
      { startedAt: null, progress: 0.5 },
      ...progress.map((p, i) => ({ startedAt: started(base + i * 1001), progress: p })).reverse(),
    ]);
    expect(running.get('p2')).toEqual([{ startedAt: started(base - 7), progress: 0.25 }]);
    expect(running.get('none')).toEqual([]);
    // The limit takes the latest started.
    const two = await listRunningTasks(db, [{ providerId: 'p1', limit: 2 }]);
    expect(two.get('p1')!.map((r) => r.startedAt?.getTime() ?? null)).toEqual([null, base + 4 * 1001]);
  });
});
