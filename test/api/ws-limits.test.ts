// One WebSocket connection runs at most MAX_SUBSCRIPTIONS_PER_CONNECTION
// operations at once: the next subscribe gets an `error` message for its id,
// and the connection and the other subscriptions carry on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION } from '../../src/server/http.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { subscribe, wsClient, type Subscription } from '../support/ws.js';

const CREATE = 'mutation($p: String!) { createVideoTask(input: { prompt: $p }) { ... on CreateVideoTaskSuccess { task { id } } } }';
const WATCH = 'subscription { tasksUpdated { id status } }';

describe('subscriptions per WebSocket connection', () => {
  let t: TestApp;
  /** Create tasks until every subscription has heard one: they are all live from then on. */
  const untilAllHear = (subs: Array<Subscription<unknown>>) =>
    expect
      .poll(
        async () => {
          await t.gql(CREATE, { p: 'probe' });
          return subs.every((s) => s.values.length > 0);
        },
        { timeout: 20_000, interval: 200 },
      )
      .toBe(true);
  beforeAll(async () => {
    t = await startTestApp({ configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it(`the ${MAX_SUBSCRIPTIONS_PER_CONNECTION + 1}st subscribe gets an error for its id; the connection and the others stay`, async () => {
    expect(MAX_SUBSCRIPTIONS_PER_CONNECTION).toBe(100);
    let closed = false;
    const client = wsClient(t.wsUrl, undefined, { on: { closed: () => (closed = true) } });
    const subs: Array<Subscription<{ id: string }>> = [];
    for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_CONNECTION; i++) subs.push(subscribe(client, WATCH, {}, (d) => d.tasksUpdated));

    await untilAllHear(subs);

    const extra = subscribe(client, WATCH, {}, (d) => d.tasksUpdated);
    await expect
      .poll(async () => {
        await t.gql(CREATE, { p: 'probe' });
        return extra.errors.length + extra.values.length;
      }, { timeout: 20_000, interval: 200 })
      .toBeGreaterThan(0);
    expect(extra.values).toEqual([]);
    expect(extra.errors).toMatchObject([[{ message: expect.stringContaining('at most 100'), extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } }]]);

    const second = (await t.gql(CREATE, { p: 'second' })).data.createVideoTask.task.id;
    await Promise.all(subs.map((s) => s.waitFor((v) => v.id === second)));
    expect(closed).toBe(false);

    // Completing one frees its slot.
    subs.pop()!.dispose();
    const replacement = subscribe(client, WATCH, {}, (d) => d.tasksUpdated);
    await untilAllHear([replacement]);
    expect(replacement.errors).toEqual([]);
    expect(closed).toBe(false);
    await client.dispose();
  });

  it('a syntax error over WebSocket is an error message for that id, not a closed connection', async () => {
    let closed = false;
    const client = wsClient(t.wsUrl, undefined, { on: { closed: () => (closed = true) } });
    const live = subscribe(client, WATCH, {}, (d) => d.tasksUpdated);
    const broken = subscribe(client, 'subscription { tasksUpdated { id ', {}, (d) => d);
    await expect(broken.completed).rejects.toBeDefined();
    expect(JSON.stringify(broken.errors)).toMatch(/Syntax Error/);
    await untilAllHear([live]);
    expect(closed).toBe(false);
    await client.dispose();
  });
});
