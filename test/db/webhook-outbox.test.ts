// The webhook outbox below the HTTP layer (drizzle/0007_webhooks.sql,
// claim-webhook-deliveries.ts, record-webhook-attempt.ts), on PGlite and
// Postgres: the trigger writes rows only for tasks with a webhook and only the
// events asked for, in the statement that changes the task (the runner's
// many-row writes included); claims never hand one row to two claimers;
// attempts are recorded once and given up at the deadline.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execRows } from '../../src/db/client.js';
import { claimWebhookDeliveries } from '../../src/db/claim-webhook-deliveries.js';
import { recordWebhookAttempt } from '../../src/db/record-webhook-attempt.js';
import { getWebhookDeliveries } from '../../src/db/webhook-deliveries.js';
import { recordProgressBatch, transition } from '../../src/runner/transitions.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

const kinds = await databaseKinds();

describe.each(kinds)('webhook outbox on %s', (kind) => {
  let store: TestStore;
  const db = () => store.database.db;
  const hooked = (events: string[]) => store.addTask({ webhookUrl: 'https://hooks.example.com/x', webhookEvents: events, requestOrigin: 'http://127.0.0.1:4000' });
  const events = async (id: string) => (await getWebhookDeliveries(db(), [id])).map((d) => d.event);
  const clear = () => db().execute(sql`delete from webhook_deliveries`);

  beforeAll(async () => {
    store = await openTestStore(kind);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('writes nothing for a task without a webhook, and only the asked-for events for one with', async () => {
    const plain = await store.addTask();
    const terminal = await hooked(['COMPLETED', 'FAILED', 'CANCELLED']);
    const all = await hooked(['STARTED', 'PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED']);
    for (const t of [plain, terminal, all]) {
      await transition(db(), t.id, { status: 'PROCESSING', leaseOwner: 'r1' }, { from: ['QUEUED'] });
      // The runner's many-row write of progress, as it is made.
      await recordProgressBatch(db(), 'r1', [{ taskId: t.id, progress: 0.5, upstreamStatus: null, message: false, nextPollAt: new Date() }]);
      await transition(db(), t.id, { status: 'FAILED', errorCode: 'X', errorMessage: 'x' }, { from: ['PROCESSING'] });
    }
    expect(await events(plain.id)).toEqual([]);
    expect(await events(terminal.id)).toEqual(['FAILED']);
    // The pending PROGRESS (never attempted) is dropped by the final state.
    expect(await events(all.id)).toEqual(['STARTED', 'FAILED']);
    const [row] = await execRows<{ task: { status: string; error_code: string } }>(db(), sql`select task from webhook_deliveries where task_id = ${all.id} and event = 'FAILED'`);
    expect(row!.task).toMatchObject({ status: 'FAILED', error_code: 'X' });
    await clear();
  });

  it('STARTED once, even when a released task starts again; PROGRESS coalesced into the pending row', async () => {
    const t = await hooked(['STARTED', 'PROGRESS']);
    await transition(db(), t.id, { status: 'PROCESSING' }, { from: ['QUEUED'] });
    await transition(db(), t.id, { status: 'QUEUED' }, { from: ['PROCESSING'] });
    await transition(db(), t.id, { status: 'PROCESSING' }, { from: ['QUEUED'] });
    for (const p of [0.1, 0.2, 0.3]) await transition(db(), t.id, { progress: p }, { from: ['PROCESSING'] });
    expect(await events(t.id)).toEqual(['STARTED', 'PROGRESS']);
    // Once that one is claimed (attempted), the next change makes a new row, due 5 s after it.
    const claimed = await claimWebhookDeliveries(db(), 10, 60_000);
    expect(claimed.map((c) => c.event).sort()).toEqual(['PROGRESS', 'STARTED']);
    expect(claimed.find((c) => c.event === 'PROGRESS')!.task.progress).toBe(0.3);
    await transition(db(), t.id, { progress: 0.4 }, { from: ['PROCESSING'] });
    const [spacing] = await execRows<{ s: number }>(
      db(),
      sql`select extract(epoch from (max(due_at) - min(due_at)))::float8 as s from webhook_deliveries where task_id = ${t.id} and event = 'PROGRESS'`,
    );
    expect(spacing!.s).toBeCloseTo(5, 1);
    expect(await claimWebhookDeliveries(db(), 10, 60_000)).toEqual([]); // nothing due: the new one waits, the claimed ones are leased
    await clear();
  });

  it('concurrent claims never share a row; a stale record changes nothing; an attempt past the deadline gives up', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const t = await hooked(['CANCELLED']);
      await transition(db(), t.id, { status: 'CANCELLED' }, { from: ['QUEUED'] });
      ids.push(t.id);
    }
    const batches = await Promise.all([0, 1, 2].map(() => claimWebhookDeliveries(db(), 12, 60_000)));
    const claimed = batches.flat();
    expect(claimed).toHaveLength(30);
    expect(new Set(claimed.map((c) => c.id)).size).toBe(30);
    expect(claimed.every((c) => c.attempts === 1)).toBe(true);

    const [a, b, c] = claimed;
    const base = { status: 500, error: 'the webhook host answered HTTP 500', retryInMs: 1, giveUpMs: 86_400_000 };
    expect(await recordWebhookAttempt(db(), { id: a!.id, attempts: 1, delivered: false, ...base })).toBe('failed');
    expect(await recordWebhookAttempt(db(), { id: a!.id, attempts: 1, delivered: true, status: 200, error: null, retryInMs: 1, giveUpMs: 1 })).toBe('delivered');
    // A record for an attempt number the row is not at (a stale runner's) changes nothing.
    expect(await recordWebhookAttempt(db(), { id: b!.id, attempts: 2, delivered: true, status: 200, error: null, retryInMs: 1, giveUpMs: 1 })).toBeNull();
    expect(await recordWebhookAttempt(db(), { id: c!.id, attempts: 1, delivered: false, ...base, giveUpMs: 0 })).toBe('gave_up');
    const rows = await getWebhookDeliveries(db(), [a!.taskId, b!.taskId, c!.taskId]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(a!.id)).toMatchObject({ lastStatus: 200, lastError: null, nextAttemptAt: null, deliveredAt: expect.any(Date) });
    expect(byId.get(b!.id)).toMatchObject({ attempts: 1, lastStatus: null, deliveredAt: null });
    expect(byId.get(c!.id)).toMatchObject({ lastStatus: 500, lastError: base.error, nextAttemptAt: null, deliveredAt: null });
    await clear();
  });

  it('deleting a task deletes its deliveries', async () => {
    const t = await hooked(['CANCELLED']);
    await transition(db(), t.id, { status: 'CANCELLED' }, { from: ['QUEUED'] });
    expect(await events(t.id)).toEqual(['CANCELLED']);
    await db().execute(sql`delete from tasks where id = ${t.id}`);
    expect(await events(t.id)).toEqual([]);
  });
});
