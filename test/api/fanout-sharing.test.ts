// Fan-out: a change is executed once for every subscriber of the same
// operation (src/server/shared-results.ts), not once per subscriber. Counted
// by the queries of a field that reads the database: `events`.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelTaskRow } from '../../src/runner/transitions.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { subscribe, wsClient, type Subscription } from '../support/ws.js';

const WATCH = `subscription($id: ID!) { taskUpdated(id: $id) { status events { message } } }`;

describe('subscription results shared per change', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('ten subscribers of one task: one execution (one events query) per change, the same result for all', async () => {
    const created = await t.gql(`mutation { createVideoTask(input: { prompt: "shared" }) { ... on CreateVideoTaskSuccess { task { id } } } }`);
    const id: string = created.data.createVideoTask.task.id;
    const clients = Array.from({ length: 10 }, () => wsClient(t.wsUrl));
    const subs: Array<Subscription<any>> = clients.map((c) => subscribe(c, WATCH, { id }, (d) => d.taskUpdated));
    await Promise.all(subs.map((s) => s.waitFor((v) => v.status === 'QUEUED')));
    const before = t.queries.length;
    await cancelTaskRow(t.app.services.database.db, id);
    const last = await Promise.all(subs.map((s) => s.waitFor((v) => v.status === 'CANCELLED')));
    const eventReads = t.queries.slice(before).filter((q) => /from "task_events"/.test(q));
    expect(eventReads).toHaveLength(1);
    for (const v of last) expect(v).toEqual(last[0]);
    expect(last[0].events.map((e: { message: string }) => e.message)).toContain('cancelled by client');
    await Promise.all(clients.map((c) => c.dispose()));
  });

  it('an error of the subscription itself still reaches the client as an error for its id', async () => {
    const client = wsClient(t.wsUrl);
    const sub = subscribe(client, WATCH, { id: '00000000-0000-4000-8000-000000000009' }, (d) => d.taskUpdated);
    await expect(sub.completed).rejects.toEqual([expect.objectContaining({ message: expect.stringContaining('no task'), extensions: { code: 'NOT_FOUND' } })]);
    await client.dispose();
  });

  // The shared results are masked by useSharedSubscriptionResults itself (yoga's
  // masking plugin no longer wraps subscription streams): an unexpected error
  // goes out as INTERNAL_SERVER_ERROR with a request id, never with its text.
  it('an unexpected error while executing a shared result is masked, once for all subscribers', async () => {
    const created = await t.gql(`mutation { createVideoTask(input: { prompt: "masked" }) { ... on CreateVideoTaskSuccess { task { id } } } }`);
    const id: string = created.data.createVideoTask.task.id;
    const db = t.app.services.database.db;
    await db.execute(sql.raw('alter table task_events rename to task_events_hidden'));
    const clients = Array.from({ length: 3 }, () => wsClient(t.wsUrl));
    try {
      const subs: Array<Subscription<any>> = clients.map((c) => subscribe(c, WATCH, { id }, (d) => d.taskUpdated));
      const deadline = Date.now() + 10_000;
      while (subs.some((s) => s.errors.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const s of subs) {
        expect(s.errors).toEqual([expect.objectContaining({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: expect.any(String) } })]);
        expect(JSON.stringify(s.errors)).not.toMatch(/task_events/);
      }
    } finally {
      await db.execute(sql.raw('alter table task_events_hidden rename to task_events'));
      await Promise.all(clients.map((c) => c.dispose()));
    }
  });

  it('an unexpected error thrown by the subscription source is masked', async () => {
    const created = await t.gql(`mutation { createVideoTask(input: { prompt: "masked source" }) { ... on CreateVideoTaskSuccess { task { id } } } }`);
    const id: string = created.data.createVideoTask.task.id;
    const db = t.app.services.database.db;
    const client = wsClient(t.wsUrl);
    await db.execute(sql.raw('alter table tasks rename to tasks_hidden'));
    try {
      const sub = subscribe(client, WATCH, { id }, (d) => d.taskUpdated);
      const failure = await sub.completed.then(() => 'completed', (e: unknown) => e);
      expect(failure).toEqual([expect.objectContaining({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: expect.any(String) } })]);
      expect(JSON.stringify(failure)).not.toMatch(/tasks_hidden|relation/);
    } finally {
      await db.execute(sql.raw('alter table tasks_hidden rename to tasks'));
      await client.dispose();
    }
  });
});
