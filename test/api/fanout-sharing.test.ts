// Fan-out: a change is executed once for every subscriber of the same
// operation (src/server/shared-results.ts), not once per subscriber. Counted
// by the queries of a field that reads the database: `events`.
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
});
