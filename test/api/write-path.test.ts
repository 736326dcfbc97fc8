// The request hot path: a create without per-key limits or an idempotency key
// is one statement (one round trip on Postgres) that stores the task, its
// first event and its change notification; with limits it adds the owner's
// lock and the checks (sent together), and stays exact. A stored key is looked
// up at most once a second, and still refused within a second of its
// revocation. On PGlite and Postgres.
import net from 'node:net';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { KEY_CACHE_MS } from '../../src/auth.js';
import { createApiKey, hashKey, revokeApiKey } from '../../src/db/api-keys.js';
import { execRows } from '../../src/db/client.js';
import { preparingStatements } from '../../src/db/prepared-statements.js';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTempDatabase, databaseKinds, postgresAvailable } from '../support/postgres.js';

const kinds = await databaseKinds();

const CREATE = `mutation($input: CreateVideoTaskInput!) {
  createVideoTask(input: $input) { __typename ... on CreateVideoTaskSuccess { task { id status } } ... on Error { code message } }
}`;

type CreateResult = { __typename: string; code?: string; task?: { id: string; status: string } };

async function create(t: TestApp, key: string, input: Record<string, unknown> = {}): Promise<CreateResult> {
  const res = await t.gql<{ createVideoTask: CreateResult }>(CREATE, { input: { prompt: 'hot path', ...input } }, key);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data!.createVideoTask;
}

/** Statements a create issues (the query log sees every one, whatever runs them). */
const WRITES = /"tasks"|"task_events"|idempotency_keys|recent_creates|pg_advisory_xact_lock/;

async function statementsOf(t: TestApp, fn: () => Promise<unknown>): Promise<string[]> {
  const from = t.queries.length;
  await fn();
  return t.queries.slice(from).filter((q) => WRITES.test(q));
}

function apiApp(kind: 'pglite' | 'postgres', env: Record<string, string> = {}, databaseUrl?: string) {
  return startTestApp({ db: kind, databaseUrl, env: { REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '0', ...env }, configure: (c) => (c.role = 'api') });
}

describe.each(kinds)('create statements on %s', (kind) => {
  it('without limits or idempotency key: one statement stores the task, its first event and its notification', async () => {
    const t = await apiApp(kind);
    try {
      const db = t.app.services.database.db;
      const key = await createApiKey(db, 'plain');
      await create(t, key); // the key's lookup
      const heard: string[] = [];
      const off = t.app.services.events.onTask((id) => heard.push(id));
      let created: CreateResult | undefined;
      const statements = await statementsOf(t, async () => (created = await create(t, key)));
      expect(statements).toHaveLength(1);
      expect(created).toMatchObject({ __typename: 'CreateVideoTaskSuccess', task: { status: 'QUEUED' } });
      const id = created!.task!.id;
      const events = await t.gql(`query($id: ID!) { task(id: $id) { events { status message } } }`, { id }, key);
      expect(events.data.task.events).toEqual([{ status: 'QUEUED', message: 'queued for local' }]);
      await expect.poll(() => heard.includes(id)).toBe(true);
      off();
      // Columns left out are SQL NULL (not JSON null), params an empty object.
      const [row] = await execRows<{ no_image: boolean; params: unknown; idem: string | null }>(
        db,
        sql`select input_image is null as no_image, params, idempotency_key as idem from tasks where id = ${id}::uuid`,
      );
      expect(row).toMatchObject({ no_image: true, idem: null });
      expect(row!.params).toEqual({});
    } finally {
      await t.stop();
    }
  });

  it('with limits: the lock, the checks and one statement; exact under concurrent creates', async () => {
    const t = await apiApp(kind);
    try {
      const key = await createApiKey(t.app.services.database.db, 'limited', { maxActive: 5, perMinute: 0 });
      await create(t, key);
      const statements = await statementsOf(t, () => create(t, key));
      expect(statements.filter((q) => /pg_advisory_xact_lock/.test(q))).toHaveLength(1);
      expect(statements.filter((q) => /insert into "tasks"|insert into tasks/i.test(q))).toHaveLength(1);
      expect(statements.length).toBeLessThanOrEqual(3);
      const results = await Promise.all(Array.from({ length: 12 }, (_, i) => create(t, key, { prompt: `burst ${i}` })));
      expect(results.filter((r) => r.__typename === 'CreateVideoTaskSuccess')).toHaveLength(3);
      expect(results.filter((r) => r.code === 'TOO_MANY_ACTIVE_TASKS')).toHaveLength(9);
    } finally {
      await t.stop();
    }
  });

  it('an idempotency key and a per-minute limit together: replays over the limit, one task per key under concurrency', async () => {
    const t = await apiApp(kind);
    try {
      const key = await createApiKey(t.app.services.database.db, 'both', { maxActive: 0, perMinute: 2 });
      const same = await Promise.all(Array.from({ length: 6 }, () => create(t, key, { prompt: 'same', idempotencyKey: 'k1' })));
      expect(new Set(same.map((r) => r.task?.id)).size).toBe(1);
      expect((await create(t, key, { prompt: 'other' })).__typename).toBe('CreateVideoTaskSuccess');
      expect((await create(t, key, { prompt: 'third' })).code).toBe('RATE_LIMITED');
      // A replay is answered even over the limit; a different request under the key conflicts.
      expect((await create(t, key, { prompt: 'same', idempotencyKey: 'k1' })).task?.id).toBe(same[0]!.task!.id);
      expect((await create(t, key, { prompt: 'changed', idempotencyKey: 'k1' })).code).toBe('IDEMPOTENCY_KEY_REUSED');
    } finally {
      await t.stop();
    }
  });
});

describe.each(kinds)('stored keys on %s', (kind) => {
  it('are looked up at most once a second; a new key works at once', async () => {
    const t = await apiApp(kind);
    try {
      const db = t.app.services.database.db;
      const first = await createApiKey(db, 'first');
      expect((await t.gql('{ __typename }', {}, first)).status).toBe(200);
      const late = 'rly_not-created-yet';
      expect((await t.gql('{ __typename }', {}, late)).status).toBe(401);
      await db.execute(sql`insert into api_keys (name, key_hash) values ('late', ${hashKey(late)})`);
      expect((await t.gql('{ __typename }', {}, late)).status).toBe(200);
      const key = await createApiKey(db, 'cached');
      // Any keys notification (this creation's) starts the cache over: let it arrive first.
      await new Promise((r) => setTimeout(r, 300));
      const from = t.queries.length;
      const t0 = Date.now();
      for (let i = 0; i < 10; i++) expect((await t.gql('{ __typename }', {}, key)).status).toBe(200);
      const lookups = t.queries.slice(from).filter((q) => /from "api_keys"/.test(q)).length;
      expect(lookups).toBeLessThanOrEqual(Math.ceil((Date.now() - t0) / KEY_CACHE_MS));
    } finally {
      await t.stop();
    }
  });

  it('are refused within a second of a revocation nobody was told about, at once after revokeApiKey', async () => {
    const t = await apiApp(kind);
    try {
      const db = t.app.services.database.db;
      const silent = await createApiKey(db, 'silent');
      const told = await createApiKey(db, 'told');
      for (const k of [silent, told]) expect((await t.gql('{ __typename }', {}, k)).status).toBe(200);
      // Revoked by hand in SQL: no notification, the cache runs out.
      await db.execute(sql`update api_keys set revoked_at = now() where name = 'silent'`);
      const t0 = Date.now();
      while ((await t.gql('{ __typename }', {}, silent)).status === 200) await new Promise((r) => setTimeout(r, 20));
      expect(Date.now() - t0).toBeLessThanOrEqual(KEY_CACHE_MS + 250);
      expect((await t.gql('{ __typename }', {}, told)).status).toBe(200);
      await revokeApiKey(db, 'told');
      const t1 = Date.now();
      while ((await t.gql('{ __typename }', {}, told)).status === 200) await new Promise((r) => setTimeout(r, 10));
      expect(Date.now() - t1).toBeLessThan(KEY_CACHE_MS / 2);
    } finally {
      await t.stop();
    }
  });

  it('an SSE subscription started on a cached check of a silently revoked key ends within a second', async () => {
    const t = await apiApp(kind);
    try {
      const db = t.app.services.database.db;
      const key = await createApiKey(db, 'sse');
      const id = (await create(t, key)).task!.id;
      await db.execute(sql`update api_keys set revoked_at = now() where name = 'sse'`);
      const t0 = Date.now();
      const res = await fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: 'subscription($id: ID!) { taskUpdated(id: $id) { status } }', variables: { id } }),
      });
      // Refused outright (the check ran out) or started from the cache and ended by the re-check it starts.
      if (res.status === 200) {
        const reader = res.body!.getReader();
        while (!(await reader.read()).done);
      }
      expect(Date.now() - t0).toBeLessThanOrEqual(KEY_CACHE_MS + 500);
    } finally {
      await t.stop();
    }
  });
});

/** A TCP proxy counting round trips: a client send that follows an answer (or opens the connection) starts one. */
async function roundTripCounter(port: number) {
  let trips = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    let answered = true;
    client.on('data', (d) => {
      if (answered) trips++;
      answered = false;
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      answered = true;
      client.write(d);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {}).on('close', () => (client.destroy(), upstream.destroy()));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get trips() {
      return trips;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe.runIf(await postgresAvailable())('round trips to Postgres', () => {
  it('a plain create is one round trip; with limits, begin + lock and checks together + the statement + commit', async () => {
    const temp = await createTempDatabase();
    const counter = await roundTripCounter(Number(new URL(temp.url).port || 5432));
    const t = await apiApp('postgres', {}, temp.url.replace(/@([^/:]+)(:\d+)?\//, `@127.0.0.1:${counter.port}/`));
    try {
      const db = t.app.services.database.db;
      const plain = await createApiKey(db, 'rt-plain');
      const limited = await createApiKey(db, 'rt-limited', { maxActive: 1000, perMinute: 1000 });
      // Sequential creates reuse one pooled connection; the first prepares the statements.
      const tripsOf = async (key: string) => {
        for (let i = 0; i < 3; i++) await create(t, key);
        let fewest = Infinity;
        for (let i = 0; i < 3; i++) {
          const before = counter.trips;
          await create(t, key);
          fewest = Math.min(fewest, counter.trips - before);
        }
        return fewest;
      };
      expect(await tripsOf(plain)).toBe(1);
      expect(await tripsOf(limited)).toBe(4);
    } finally {
      await t.stop();
      await counter.close();
      await temp.drop();
    }
  });

  it('drizzle statements are prepared once per connection, up to a bound of distinct texts', async () => {
    const temp = await createTempDatabase();
    const client = preparingStatements(postgres(temp.url, { max: 1, onnotice: () => {} }), 2);
    try {
      const db = drizzle(client);
      const prepared = async () => (await client.unsafe(`select statement from pg_prepared_statements where statement like 'select $1::int as %'`)).map((r) => String(r.statement)).sort();
      for (let i = 0; i < 3; i++) await db.execute(sql`select ${i}::int as a`);
      expect(await prepared()).toEqual(['select $1::int as a']);
      await db.transaction(async (tx) => tx.execute(sql`select ${1}::int as b`));
      expect(await prepared()).toEqual(['select $1::int as a', 'select $1::int as b']);
      // Past the bound: run unnamed, as drizzle does by default.
      await db.execute(sql`select ${1}::int as c`);
      expect(await prepared()).toEqual(['select $1::int as a', 'select $1::int as b']);
    } finally {
      await client.end();
      await temp.drop();
    }
  });
});
