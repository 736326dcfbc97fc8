// postgres.js 3.4.9 could send a transaction's BEGIN without reserving its
// connection (porsager/postgres#1189): when the BEGIN was the query that
// filled the connection's pipeline, or its socket was full, the transaction
// failed with UNSAFE_TRANSACTION while it stayed open on the server, and the
// pool handed the connection to unrelated queries, which then ran inside it
// (their writes uncommitted, or rolled back with someone else's transaction).
// Seen with 10,000 jobs in flight (bench/jobs.ts: "claiming tasks failed").
// reelay patches the driver (patches/postgres+3.4.9.patch, applied by
// patch-package on install); these tests fail without the patch.
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { ADMIN_URL, postgresAvailable } from '../support/postgres.js';

/** A pool with a pipeline limit (an option of the driver its typings leave out). */
function pool(max: number, maxPipeline: number, applicationName?: string) {
  const options = { max, max_pipeline: maxPipeline, onnotice: () => {}, ...(applicationName ? { connection: { application_name: applicationName } } : {}) };
  return postgres(ADMIN_URL, options);
}

describe.skipIf(!(await postgresAvailable()))('postgres.js transactions under a full pipeline', () => {
  it('a BEGIN that fills a busy connection’s pipeline reserves it: the transaction commits and nothing is left open', async () => {
    const name = `reelay-begin-${randomUUID().slice(0, 8)}`;
    // A pipeline of one: the BEGIN sent behind a running query is at the limit at once
    // (with the default of 100 the same happens to the 100th query in flight).
    const sql = pool(2, 1, name);
    try {
      await Promise.all([sql`select 1`, sql`select 1`]); // both connections open
      const busy = [sql`select pg_sleep(0.3)`.execute(), sql`select pg_sleep(0.3)`.execute()]; // and both busy
      const inTx = sql.begin(async (tx) => {
        const [row] = await tx<{ x: string }[]>`select txid_current()::text as x`;
        const [again] = await tx<{ x: string }[]>`select txid_current()::text as x`;
        return [row!.x, again!.x];
      });
      const [a, b] = await inTx;
      expect(a).toBe(b); // one transaction
      await Promise.all(busy);
      // Unrelated queries afterwards run in transactions of their own.
      const ids = await Promise.all(Array.from({ length: 6 }, () => sql<{ x: string }[]>`select txid_current()::text as x`));
      expect(new Set(ids.map((r) => r[0]!.x)).size).toBe(6);
      const probe = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      const [open] = await probe<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = ${name} and state like 'idle in transaction%'`.finally(() => probe.end());
      expect(open!.n).toBe(0);
    } finally {
      await sql.end({ timeout: 5 });
    }
  });

  it('many transactions and plain queries at once on a small pool with a short pipeline all succeed', async () => {
    const sql = pool(3, 2);
    try {
      for (let round = 0; round < 10; round++) {
        const plain = Array.from({ length: 6 }, () => sql`select pg_sleep(0.01)`.execute());
        const txs = Array.from({ length: 5 }, () =>
          sql.begin(async (tx) => {
            const [r] = await tx<{ x: string }[]>`select txid_current()::text as x`;
            const [s] = await tx<{ x: string }[]>`select txid_current()::text as x`;
            return r!.x === s!.x;
          }),
        );
        const results = await Promise.all([...plain, ...txs]);
        expect(results.slice(plain.length)).toEqual(txs.map(() => true));
      }
    } finally {
      await sql.end({ timeout: 5 });
    }
  });
});
