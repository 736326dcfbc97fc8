// Whether clients need a key is decided at start and only ever tightens:
// revoking the last key leaves the server closed (HTTP 401, SSE 401,
// WebSocket 4403) until a restart, and the first key created while an open
// loopback server runs closes it within a second, on PGlite and Postgres.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/db/api-keys.js';
import { openDatabase, type Db } from '../../src/db/client.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTempDatabase, databaseKinds } from '../support/postgres.js';
import { subscribe, wsClient } from '../support/ws.js';

const kinds = await databaseKinds();

/** HTTP status of a query, an SSE subscription's status, and the WebSocket's fate, without a key (or with `key`). */
async function probe(t: TestApp, key?: string): Promise<{ http: number; sse: number; ws: number | 'open' }> {
  const auth: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  const http = (await t.gql('{ stats { total } }', {}, key)).status;
  const ac = new AbortController();
  const sseRes = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...auth },
    body: JSON.stringify({ query: 'subscription { tasksUpdated { id } }' }),
    signal: ac.signal,
  });
  const sse = sseRes.status;
  ac.abort();
  await sseRes.body?.cancel().catch(() => {});
  const ws = await new Promise<number | 'open'>((resolve) => {
    const client = wsClient(t.wsUrl, key, {
      on: {
        connected: () => resolve('open'),
        closed: (e) => resolve((e as { code: number }).code),
      },
    });
    subscribe(client, 'subscription { tasksUpdated { id } }', {}, (d) => d);
    // Resolved: dispose so the socket does not outlive the probe.
    void Promise.resolve().then(() => setTimeout(() => void client.dispose(), 2000));
  });
  return { http, sse, ws };
}

/** An SSE subscription: resolves `ended` when the server ends the stream. */
async function sseSubscription(t: TestApp, query: string, variables: Record<string, unknown>) {
  const res = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query, variables }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = '';
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += new TextDecoder().decode(value);
    }
  })();
  return { received: () => text, ended };
}

const CLOSED = { http: 401, sse: 401, ws: 4403 };
const OPEN = { http: 200, sse: 200, ws: 'open' };

/** Observe the server over a window longer than any cache (the old code re-checked every second). */
async function staysClosed(t: TestApp, ms = 1600): Promise<void> {
  const until = Date.now() + ms;
  do expect(await probe(t)).toEqual(CLOSED);
  while (Date.now() < until);
}

describe.each(kinds)('keys mode is decided at start (%s)', (kind) => {
  it('a server that starts with a stored key stays closed after the last key is revoked', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-auth-'));
    const tempDb = kind === 'postgres' ? await createTempDatabase() : undefined;
    const setup = await openDatabase({ databaseUrl: tempDb?.url, dataDir: path.join(dataDir, 'db') });
    const key = await createApiKey(setup.db, 'only');
    await setup.close();
    const t = await startTestApp({ dataDir, databaseUrl: tempDb?.url, persistent: true, configure: (c) => (c.role = 'api') });
    try {
      expect(await probe(t, key)).toEqual(OPEN);
      expect(await probe(t)).toEqual(CLOSED);
      expect(await revokeApiKey(t.app.services.database.db, 'only')).toBe(true);
      // Refused once the revocation's notification reaches the key cache (within about a second).
      await expect.poll(() => probe(t, key), { timeout: 10_000 }).toEqual(CLOSED);
      await staysClosed(t);
      expect(await t.app.services.auth.required()).toBe(true);
    } finally {
      await t.stop();
      await tempDb?.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('the first key created while an open loopback server runs closes it within a second, for good', async () => {
    const t = await startTestApp({ db: kind, configure: (c) => (c.role = 'api') });
    // On Postgres the key comes from another connection, as `npm run keys` does.
    const other = kind === 'postgres' ? await openDatabase({ databaseUrl: t.tempDb!.url, maxConnections: 1 }) : undefined;
    const keysDb: Db = other?.db ?? t.app.services.database.db;
    try {
      expect(await t.app.services.auth.required()).toBe(false);
      expect(await probe(t)).toEqual(OPEN);
      // An anonymous subscription that is live when the key appears.
      let anonymousClose = 0;
      const anon = wsClient(t.wsUrl, undefined, { on: { closed: (e) => (anonymousClose = (e as { code: number }).code) } });
      const created = await t.gql(`mutation { createVideoTask(input: { prompt: "open mode" }) { ... on CreateVideoTaskSuccess { task { id } } } }`);
      const id = created.data.createVideoTask.task.id;
      const sub = subscribe(anon, `subscription($id: ID!) { taskUpdated(id: $id) { status } }`, { id }, (d) => d.taskUpdated);
      await sub.waitFor((v) => v.status === 'QUEUED');
      const sse = await sseSubscription(t, `subscription($id: ID!) { taskUpdated(id: $id) { status } }`, { id });
      await expect.poll(() => sse.received()).toContain('QUEUED');

      const key = await createApiKey(keysDb, 'first');
      const t0 = Date.now();
      await expect.poll(() => t.gql('{ stats { total } }').then((r) => r.status), { timeout: 1000, interval: 50 }).toBe(401);
      expect(Date.now() - t0).toBeLessThan(1000);
      await expect.poll(() => anonymousClose, { timeout: 2000 }).toBe(4403);
      // The anonymous SSE stream ends too.
      expect(await sse.ended).toContain('QUEUED');
      expect(await probe(t)).toEqual(CLOSED);
      expect(await probe(t, key)).toEqual(OPEN);
      // The key's owner does not see the anonymous task.
      expect((await t.gql('query($id: ID!) { task(id: $id) { id } }', { id }, key)).data.task).toBeNull();

      await revokeApiKey(keysDb, 'first');
      await staysClosed(t);
    } finally {
      await other?.close();
      await t.stop();
    }
  });
});
