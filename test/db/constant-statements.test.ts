// The API's batched reads (DataLoaders: rows, events, queue positions, run
// times, running tasks) send one statement text whatever the batch size: it is
// prepared once per connection (src/db/prepared-statements.ts) and its plan can
// be reused. An IN or VALUES list made a text per length: a parse and a plan
// per request, and after MAX_STATEMENTS texts every new one ran unprepared, in
// two round trips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';
import { createTask } from '../../src/db/create-task.js';
import { listRunningTasks } from '../../src/db/list-running-tasks.js';
import { getQueuePositions } from '../../src/db/queue-positions.js';
import { getEventsForTasks, getTasksByIds } from '../../src/db/read-tasks.js';
import { getRecentRunTimes } from '../../src/db/recent-run-times.js';

describe('batched reads: one statement text for any batch size', () => {
  let database: Database;
  let texts: string[] = [];
  const ids: string[] = [];
  beforeAll(async () => {
    database = await openDatabase({ logger: { logQuery: (q) => void texts.push(q) } });
    await database.maintenance;
    for (let i = 0; i < 7; i++) ids.push((await createTask(database.db, { owner: 'o', providerId: `p${i}`, prompt: `t${i}`, model: i % 2 ? `m${i}` : undefined })).task.id);
  });
  afterAll(async () => {
    await database?.close();
  });

  const sizes = [1, 3, 7];
  const reads: Record<string, (n: number) => Promise<unknown>> = {
    getTasksByIds: (n) => getTasksByIds(database.db, ids.slice(0, n)),
    getEventsForTasks: (n) => getEventsForTasks(database.db, ids.slice(0, n)),
    getQueuePositions: (n) => getQueuePositions(database.db, ids.slice(0, n)),
    getRecentRunTimes: (n) => getRecentRunTimes(database.db, ids.slice(0, n).map((_, i) => ({ providerId: `p${i}`, model: i % 2 ? `m${i}` : null }))),
    listRunningTasks: (n) => listRunningTasks(database.db, ids.slice(0, n).map((_, i) => ({ providerId: `p${i}`, limit: 10 + i }))),
  };

  for (const [name, read] of Object.entries(reads)) {
    it(name, async () => {
      const seen = new Set<string>();
      for (const n of sizes) {
        texts = [];
        await read(n);
        expect(texts, `${name} of ${n}: one statement`).toHaveLength(1);
        seen.add(texts[0]!);
      }
      expect([...seen], `${name}: the same text for ${sizes.join(', ')}`).toHaveLength(1);
    });
  }

  it('answers as before: rows and events of the ids asked, queue positions of the queued ones', async () => {
    const rows = await getTasksByIds(database.db, [ids[0]!, ids[1]!, 'not-a-uuid']);
    expect(rows.map((r) => r.id).sort()).toEqual([ids[0], ids[1]].sort());
    const events = await getEventsForTasks(database.db, ids.slice(0, 3));
    expect(new Set(events.map((e) => e.taskId))).toEqual(new Set(ids.slice(0, 3)));
    // Each task is the only one queued at its provider.
    const positions = await getQueuePositions(database.db, ids);
    expect([...positions.values()]).toEqual(ids.map(() => 1));
  });
});
