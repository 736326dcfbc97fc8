// Revoking a stored key ends what was authenticated with it: its WebSocket
// connections close with 4403 and its SSE subscriptions end within about a
// second, wherever the revocation runs (another connection to the same
// Postgres; on PGlite `npm run keys` runs it inside the server). Other keys'
// connections stay. A connection whose key stopped working unnoticed gets 4403
// on its next operation (never 4500) and is closed by the periodic re-check,
// which asks the database once for all live connections, not once for each.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import type { Client } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import { SESSIONS_RECHECK_MS } from '../../src/auth.js';
import { openDatabase, type Database } from '../../src/db/client.js';
import { parseKeysArgs, runKeysCommand } from '../../src/keys/commands.js';
import { sendKeysCommand } from '../../src/keys/control.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { subscribe, wsClient } from '../support/ws.js';

const kinds = await databaseKinds();

const TASK_UPDATED = 'subscription($id: ID!) { taskUpdated(id: $id) { status } }';
/** Queries of the live-session re-check (one per round, whatever the number of connections). */
const RECHECK_QUERY = /"key_hash" in \(/;

interface Setup {
  t: TestApp;
  /** `npm run keys -- …` as it reaches this server's database. */
  keys(...argv: string[]): Promise<string>;
  /** Revoke by hand in SQL: no notification. */
  revokeSilently(name: string): Promise<void>;
  stop(): Promise<void>;
}

async function setup(kind: 'pglite' | 'postgres'): Promise<Setup> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-revoke-'));
  // An environment key too: it cannot be revoked and its connections stay.
  const t = await startTestApp({ db: kind, dataDir, persistent: true, env: { REELAY_API_KEYS: 'ops:ops-key' }, configure: (c) => (c.role = 'api') });
  // Postgres: another process's connection. PGlite: the running server runs the command (the CLI's path while it holds the directory).
  let other: Database | undefined;
  if (kind === 'postgres') other = await openDatabase({ databaseUrl: t.tempDb!.url, maxConnections: 1 });
  const keys = async (...argv: string[]) => {
    const result = other ? await runKeysCommand(other.db, parseKeysArgs(argv)) : await sendKeysCommand(path.join(dataDir, 'db'), argv);
    expect(result?.code, result?.stderr).toBe(0);
    return result!.stdout;
  };
  return {
    t,
    keys,
    async revokeSilently(name) {
      await (other ?? t.app.services.database).db.execute(sql`update api_keys set revoked_at = now() where name = ${name}`);
    },
    async stop() {
      await other?.close();
      await t.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function createKey(s: Setup, name: string): Promise<string> {
  return /\n(rly_[A-Za-z0-9_-]+)\n/.exec(await s.keys('create', name))![1]!;
}

async function createTask(t: TestApp, key: string): Promise<string> {
  const r = await t.gql(`mutation { createVideoTask(input: { prompt: "a long render" }) { ... on CreateVideoTaskSuccess { task { id } } } }`, {}, key);
  return r.data.createVideoTask.task.id;
}

/** A WebSocket connection that records how it closed. */
function connection(t: TestApp, key: string) {
  const closed: { code?: number; reason?: string } = {};
  const client: Client = wsClient(t.wsUrl, key, {
    lazy: false,
    onNonLazyError: () => {},
    on: {
      closed: (e) => {
        closed.code ??= (e as { code: number }).code;
        closed.reason ??= (e as { reason: string }).reason;
      },
    },
  });
  return { client, closed };
}

/** An SSE subscription with a key: `ended` resolves when the server ends the stream. */
async function sseSubscription(t: TestApp, key: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(`${t.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = '';
  let isEnded = false;
  const ended = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return ((isEnded = true), text);
      text += new TextDecoder().decode(value);
    }
  })();
  return { received: () => text, ended, isEnded: () => isEnded, cancel: () => reader.cancel().catch(() => {}) };
}

/** Runs a query over the connection: it still works. */
function stillWorks(client: Client): Promise<unknown> {
  return new Promise((resolve, reject) => {
    client.subscribe({ query: '{ stats { total } }' }, { next: resolve, error: reject, complete: () => {} });
  });
}

describe.each(kinds)('revoking a key (%s)', (kind) => {
  it('closes its WebSocket connections with 4403 and ends its SSE subscriptions within a second; other keys stay', async () => {
    const s = await setup(kind);
    const { t } = s;
    const cleanups: Array<() => unknown> = [];
    try {
      const key = await createKey(s, 'rev3');
      const otherKey = await createKey(s, 'other');
      const id = await createTask(t, key);

      // Two connections and an SSE stream of the revoked key, one connection each of another stored key and of an environment key.
      const revoked = [connection(t, key), connection(t, key)];
      const kept = [connection(t, otherKey), connection(t, 'ops-key')];
      for (const c of [...revoked, ...kept]) cleanups.push(() => c.client.dispose());
      const subs = revoked.map((c) => subscribe(c.client, TASK_UPDATED, { id }, (d) => d.taskUpdated));
      const keptSubs = await Promise.all(kept.map(async (c, i) => subscribe(c.client, TASK_UPDATED, { id: await createTask(t, i ? 'ops-key' : otherKey) }, (d) => d.taskUpdated)));
      for (const sub of [...subs, ...keptSubs]) await sub.waitFor((v) => v.status === 'QUEUED');
      const sse = await sseSubscription(t, key, TASK_UPDATED, { id });
      cleanups.push(sse.cancel);
      await expect.poll(() => sse.received()).toContain('QUEUED');

      const queriesBefore = t.queries.length;
      expect(await s.keys('revoke', 'rev3')).toMatch(/revoked key "rev3"/);
      const t0 = Date.now();
      await expect.poll(() => revoked.map((c) => c.closed.code), { timeout: 1500, interval: 20 }).toEqual([4403, 4403]);
      await expect.poll(() => sse.isEnded(), { timeout: 1500, interval: 20 }).toBe(true);
      expect(Date.now() - t0).toBeLessThan(1500);
      expect(revoked[0]!.closed.reason).toMatch(/^Forbidden: /);
      expect(sse.received()).not.toContain('errors');

      // The others' connections and subscriptions are untouched.
      for (const c of kept) {
        expect(c.closed.code).toBeUndefined();
        await stillWorks(c.client);
      }
      expect(keptSubs.map((sub) => sub.errors)).toEqual([[], []]);
      // One re-check for all the revoked key's sessions (and maybe one more), not one per connection.
      const rechecks = t.queries.slice(queriesBefore).filter((q) => RECHECK_QUERY.test(q));
      expect(rechecks.length).toBeGreaterThanOrEqual(1);
      expect(rechecks.length).toBeLessThanOrEqual(2);

      // A new connection with the revoked key is refused as usual.
      const late = connection(t, key);
      cleanups.push(() => late.client.dispose());
      await expect.poll(() => late.closed.code).toBe(4403);
    } finally {
      for (const fn of cleanups) await fn();
      await s.stop();
    }
  });

  it('a connection whose key was revoked unnoticed gets 4403 on its next operation, and the periodic re-check closes the others', async () => {
    const s = await setup(kind);
    const { t } = s;
    const cleanups: Array<() => unknown> = [];
    try {
      const key = await createKey(s, 'quiet');
      const id = await createTask(t, key);
      const busy = connection(t, key);
      const idle = connection(t, key);
      for (const c of [busy, idle]) cleanups.push(() => c.client.dispose());
      await stillWorks(busy.client);
      await stillWorks(idle.client);
      const queriesBefore = t.queries.length;

      await s.revokeSilently('quiet');
      // The next operation on a connection of the revoked key: refused (4403), not an internal error (4500).
      const sub = subscribe(busy.client, TASK_UPDATED, { id }, (d) => d.taskUpdated);
      await expect.poll(() => busy.closed.code).toBe(4403);
      expect(busy.closed.reason).toMatch(/missing or invalid API key/);
      await expect(sub.completed).rejects.toBeDefined();

      // No notification came: the safety net finds the other one.
      await expect.poll(() => idle.closed.code, { timeout: SESSIONS_RECHECK_MS + 2000, interval: 50 }).toBe(4403);
      expect(idle.closed.reason).toMatch(/no longer valid/);
      const rechecks = t.queries.slice(queriesBefore).filter((q) => RECHECK_QUERY.test(q));
      expect(rechecks.length).toBeLessThanOrEqual(2);
    } finally {
      for (const fn of cleanups) await fn();
      await s.stop();
    }
  });
});
