// The runner's periodic retention sweep: on its own timer (no trigger from
// outside) it deletes a finished task past the window, logs what it removed,
// and stops cleanly; with no window set it never sweeps.
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { RetentionSweeper } from '../../src/runner/retention.js';
import { openTestStore, type TestStore } from '../support/store.js';

describe('RetentionSweeper', () => {
  let store: TestStore;
  beforeEach(async () => {
    store = await openTestStore('pglite');
  });
  afterEach(async () => {
    await store.close();
  });

  it('sweeps on its own timer and logs what it removed', async () => {
    const db = store.database.db;
    const old = await store.addTask();
    const active = await store.addTask();
    await db.execute(sql`update tasks set status = 'FAILED', completed_at = now() - interval '2 days' where id = ${old.id}::uuid`);
    const lines: Array<{ msg: string; tasks?: number; files?: number }> = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
    const sweeper = new RetentionSweeper(db, '/nonexistent-files-dir', { taskDays: 1, intervalMs: 1000 }, log);
    sweeper.start();
    try {
      const deadline = Date.now() + 10_000;
      while (!lines.some((l) => l.msg.startsWith('retention removed'))) {
        if (Date.now() > deadline) throw new Error('no sweep within 10 s');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await sweeper.stop();
    }
    expect(lines.find((l) => l.msg.startsWith('retention removed'))).toMatchObject({ tasks: 1, files: 0 });
    expect(await store.get(old.id)).toBeUndefined();
    expect((await store.get(active.id)).status).toBe('QUEUED');
  });

  it('is off without a window', async () => {
    const sweeper = new RetentionSweeper(store.database.db, '/nonexistent-files-dir', { intervalMs: 1000 }, createLogger('silent'));
    expect(sweeper.enabled).toBe(false);
    sweeper.start();
    await sweeper.stop();
  });
});
