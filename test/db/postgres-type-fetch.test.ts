// postgres.js 3.4.9 fetches the array types on every new connection and never
// awaited that query (porsager/postgres#1192, #1205): when it failed (the pool
// ended or destroyed under it, the query cancelled) its rejection was
// unhandled, which ends a Node process. Seen in CI as an "Unhandled Rejection:
// write CONNECTION_DESTROYED" while a test closed its pool. reelay patches the
// driver (patches/postgres+3.4.9.patch); this test fails without the patch.
import net from 'node:net';
import postgres from 'postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_URL, postgresAvailable } from '../support/postgres.js';

/** A TCP proxy to Postgres that swallows the type query: it stays in flight until the pool ends. */
async function stallingProxy(): Promise<{ url: string; stalled: Promise<void>; close: () => Promise<void> }> {
  const target = new URL(ADMIN_URL);
  const sockets = new Set<net.Socket>();
  let sawTypeQuery!: () => void;
  const stalled = new Promise<void>((r) => (sawTypeQuery = r));
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      if (chunk.includes('pg_catalog.pg_type')) return sawTypeQuery();
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    for (const s of [client, upstream]) s.on('error', () => {}).on('close', () => (client.destroy(), upstream.destroy()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(ADMIN_URL);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as net.AddressInfo).port);
  return { url: url.href, stalled, close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))) };
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
afterEach(() => void process.off('unhandledRejection', onUnhandled));

describe.skipIf(!(await postgresAvailable()))('postgres.js type fetch on a new connection', () => {
  it('a pool ended while a new connection fetches its types rejects the caller’s query, with no unhandled rejection', async () => {
    process.on('unhandledRejection', onUnhandled);
    const proxy = await stallingProxy();
    const sql = postgres(proxy.url, { max: 1, onnotice: () => {} });
    try {
      const query = sql`select 1 as x`.then(
        () => 'answered',
        (err: { code?: string }) => `failed: ${err.code}`,
      );
      await proxy.stalled; // the connection is up and its type query in flight
      await sql.end({ timeout: 0 }); // destroys it, as a shutdown that cannot wait does
      expect(await query).toBe('failed: CONNECTION_DESTROYED');
      await new Promise((r) => setTimeout(r, 200)); // let a dropped promise's rejection surface
      expect(unhandled).toEqual([]);
    } finally {
      await sql.end({ timeout: 0 }).catch(() => {});
      await proxy.close();
    }
  });
});
