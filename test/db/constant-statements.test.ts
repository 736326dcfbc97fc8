// The API's batched reads (DataLoaders: rows, events, queue positions, run
// times, running tasks, webhook deliveries) and the runner's batched writes
// (claims, submission attempts, accepted ids, their history events) send the
// same statement texts whatever the batch size: each is
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
import { insertEvents } from '../../src/db/insert-events.js';
import { getWebhookDeliveries } from '../../src/db/webhook-deliveries.js';
import { recordSubmitAttempts, recordSubmittedBatch, transition } from '../../src/runner/transitions.js';

describe('batched reads and writes: the same statement texts for any batch size', () => {
  let database: Database;
  let texts: string[] = [];
  const ids: string[] = [];
  const held: string[] = [];
  beforeAll(async () => {
    database = await openDatabase({ logger: { logQuery: (q) => void texts.push(q) } });
    await database.maintenance;
    for (let i = 0; i < 7; i++) ids.push((await createTask(database.db, { owner: 'o', providerId: `p${i}`, prompt: `t${i}`, model: i % 2 ? `m${i}` : undefined })).task.id);
    // Held by runner 'r', as the runner's batched writes expect.
    for (let i = 0; i < 7; i++) held.push((await createTask(database.db, { owner: 'o', providerId: 'ph', prompt: `h${i}` })).task.id);
    for (const id of held) await transition(database.db, id, { status: 'PROCESSING', leaseOwner: 'r' });
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
    getWebhookDeliveries: (n) => getWebhookDeliveries(database.db, ids.slice(0, n)),
    insertEvents: (n) => insertEvents(database.db, ids.slice(0, n).map((taskId, i) => ({ taskId, status: 'QUEUED', progress: i ? i / 10 : null, message: `e${i}` }))),
    recordSubmitAttempts: async (n) => {
      const kept = await recordSubmitAttempts(database.db, 'r', held.slice(0, n).map((taskId) => ({ taskId, attempts: 1, submittedAt: new Date() })));
      expect(kept.size).toBe(n);
    },
    recordSubmittedBatch: async (n) => {
      const kept = await recordSubmittedBatch(database.db, 'r', held.slice(0, n).map((taskId, i) => ({ taskId, providerId: 'ph', providerTaskId: `up-${n}-${i}` })));
      expect(kept.size).toBe(n);
    },
  };

  // The notification of one changed task has a form of its own (publishTaskChanged): two texts in all, from 2 on one.
  const writes = new Set(['recordSubmitAttempts', 'recordSubmittedBatch']);

  for (const [name, read] of Object.entries(reads)) {
    it(name, async () => {
      const seen = new Set<string>();
      for (const n of writes.has(name) ? [2, 3, 7] : sizes) {
        texts = [];
        await read(n);
        expect(texts.length, `${name} of ${n}: some statement`).toBeGreaterThan(0);
        seen.add(JSON.stringify(texts));
      }
      expect([...seen], `${name}: the same texts for ${sizes.join(', ')}`).toHaveLength(1);
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

  it('the batched writes change what they did before: attempts, upstream ids and their events', async () => {
    const [a, b] = held;
    const at = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678));
    await recordSubmitAttempts(database.db, 'r', [{ taskId: a!, attempts: 3, submittedAt: at }]);
    await recordSubmittedBatch(database.db, 'r', [{ taskId: b!, providerId: 'ph', providerTaskId: 'up-"quoted",\\x' }]);
    // Not held by 'other': nothing changes.
    expect((await recordSubmitAttempts(database.db, 'other', [{ taskId: b!, attempts: 9, submittedAt: at }])).size).toBe(0);
    const [ra, rb] = [(await getTasksByIds(database.db, [a!]))[0]!, (await getTasksByIds(database.db, [b!]))[0]!];
    expect(ra).toMatchObject({ attempts: 3, submittedAt: at });
    expect(rb).toMatchObject({ providerTaskId: 'up-"quoted",\\x', providerId: 'ph' });
    const events = await getEventsForTasks(database.db, [b!]);
    expect(events.at(-1)).toMatchObject({ status: 'PROCESSING', message: 'accepted by ph as up-"quoted",\\x' });
  });
});
