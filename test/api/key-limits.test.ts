// Per-key limits on createVideoTask: tasks QUEUED or PROCESSING and creates per
// minute, defaults from the environment, overrides stored with the key (CLI),
// exact under concurrent creates across API processes. On PGlite and Postgres.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/db/api-keys.js';
import { execRows } from '../../src/db/client.js';
import { cancelTaskRow, failTask } from '../../src/runner/transitions.js';
import { startTestApp, type TestApp, type TestAppOptions } from '../support/app.js';
import { createTempDatabase, databaseKinds } from '../support/postgres.js';

const kinds = await databaseKinds();
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ALICE = 'alice-key-123456';
const BOB = 'bob-key-1234567';

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id } }
      ... on Error { code message }
      ... on RateLimitedError { retryAfterSeconds }
    }
  }
`;

async function create(t: TestApp, key?: string, prompt = 'limited') {
  return (await t.gql(CREATE, { input: { prompt } }, key)).data!.createVideoTask;
}

/** Create `n` tasks one after another; all must succeed. */
async function createMany(t: TestApp, n: number, key?: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await create(t, key, `task ${i}`);
    expect(res.__typename, JSON.stringify(res)).toBe('CreateVideoTaskSuccess');
    ids.push(res.task.id);
  }
  return ids;
}

const keysCli = promisify(execFile);
async function keys(env: Record<string, string>, ...args: string[]) {
  return keysCli(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'silent', ...env }, encoding: 'utf8' });
}

describe.each(kinds)('per-key limits on %s', (kind) => {
  async function withApp(opts: TestAppOptions, fn: (t: TestApp) => Promise<void>) {
    const t = await startTestApp({ db: kind, configure: (c) => (c.role = 'api'), ...opts });
    try {
      await fn(t);
    } finally {
      await t.stop();
    }
  }

  it('env keys use the defaults: TOO_MANY_ACTIVE_TASKS (retryAfterSeconds null) until a task finishes', async () => {
    await withApp({ env: { REELAY_API_KEYS: `alice:${ALICE},bob:${BOB}`, REELAY_MAX_ACTIVE_TASKS_PER_KEY: '3', REELAY_CREATES_PER_MINUTE_PER_KEY: '0' } }, async (t) => {
      const db = t.app.services.database.db;
      const ids = await createMany(t, 3, ALICE);
      // PROCESSING counts as active too.
      await db.execute(sql`update tasks set status = 'PROCESSING', started_at = now() where id = ${ids[0]!}::uuid`);
      const refused = await create(t, ALICE);
      expect(refused).toMatchObject({ __typename: 'RateLimitedError', code: 'TOO_MANY_ACTIVE_TASKS', retryAfterSeconds: null });
      expect(refused.message).toMatch(/3 tasks queued or processing/);
      // Other keys are not affected.
      expect((await create(t, BOB)).__typename).toBe('CreateVideoTaskSuccess');
      // A finished task (failed, cancelled) frees a place.
      await failTask(db, ids[0]!, 'UPSTREAM_FAILED', 'nope');
      expect((await create(t, ALICE)).__typename).toBe('CreateVideoTaskSuccess');
      expect((await create(t, ALICE)).code).toBe('TOO_MANY_ACTIVE_TASKS');
      await cancelTaskRow(db, ids[1]!);
      expect((await create(t, ALICE)).__typename).toBe('CreateVideoTaskSuccess');
    });
  });

  it('RATE_LIMITED over the creates per minute, with retryAfterSeconds when the window frees up', async () => {
    await withApp({ env: { REELAY_API_KEYS: `alice:${ALICE}`, REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '4' } }, async (t) => {
      const db = t.app.services.database.db;
      const ids = await createMany(t, 4, ALICE);
      // Finished tasks still count: the limit is on creates.
      await cancelTaskRow(db, ids[0]!);
      const refused = await create(t, ALICE);
      expect(refused).toMatchObject({ __typename: 'RateLimitedError', code: 'RATE_LIMITED' });
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(55);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
      // Move time: the oldest create leaves the window, the others were 50, 40 and 30 s ago.
      const ages = [70, 50, 40, 30];
      await db.execute(
        sql`update recent_creates r set created_at = now() - make_interval(secs => a.age)
            from (select ctid, row_number() over (order by created_at) as n from recent_creates where owner = 'alice') o
            join unnest(array[${sql.join(ages.map((a) => sql`${a}`), sql`, `)}]::int[]) with ordinality as a (age, n) on a.n = o.n
            where r.ctid = o.ctid`,
      );
      expect((await create(t, ALICE)).__typename).toBe('CreateVideoTaskSuccess');
      // Now 4 in the window again; the one from 50 s ago leaves in about 10 s.
      const again = await create(t, ALICE);
      expect(again.code).toBe('RATE_LIMITED');
      expect(again.retryAfterSeconds).toBeGreaterThanOrEqual(9);
      expect(again.retryAfterSeconds).toBeLessThanOrEqual(11);
    });
  });

  it('deleting tasks does not give their creates back', async () => {
    await withApp({ env: { REELAY_API_KEYS: `alice:${ALICE}`, REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '3' } }, async (t) => {
      for (const id of await createMany(t, 3, ALICE)) {
        await cancelTaskRow(t.app.services.database.db, id);
        expect((await t.gql(`mutation($id: ID!) { deleteTask(id: $id) { __typename } }`, { id }, ALICE)).data.deleteTask.__typename).toBe('DeleteTaskSuccess');
      }
      expect(await create(t, ALICE)).toMatchObject({ __typename: 'RateLimitedError', code: 'RATE_LIMITED' });
    });
  });

  it('a stored key overrides the defaults; 0 turns a limit off; keys without overrides use the defaults', async () => {
    await withApp({ env: { REELAY_MAX_ACTIVE_TASKS_PER_KEY: '2', REELAY_CREATES_PER_MINUTE_PER_KEY: '3' } }, async (t) => {
      const db = t.app.services.database.db;
      const big = await createApiKey(db, 'big', { maxActive: 5, perMinute: 0 });
      const fast = await createApiKey(db, 'fast', { perMinute: 4, maxActive: 0 });
      const free = await createApiKey(db, 'free', { maxActive: 0, perMinute: 0 });
      const plain = await createApiKey(db, 'plain');
      await createMany(t, 5, big);
      expect(await create(t, big)).toMatchObject({ code: 'TOO_MANY_ACTIVE_TASKS', retryAfterSeconds: null });
      await createMany(t, 4, fast);
      expect(await create(t, fast)).toMatchObject({ code: 'RATE_LIMITED' });
      await createMany(t, 8, free);
      await createMany(t, 2, plain);
      expect(await create(t, plain)).toMatchObject({ code: 'TOO_MANY_ACTIVE_TASKS' });
      await expect(createApiKey(db, 'bad', { maxActive: -1 })).rejects.toThrow(/max-active must be a whole number >= 0/);
    });
  });

  it('anonymous (no keys) is limited too; 0 in the environment turns the limits off', async () => {
    await withApp({ env: { REELAY_MAX_ACTIVE_TASKS_PER_KEY: '2' } }, async (t) => {
      await createMany(t, 2);
      expect(await create(t)).toMatchObject({ __typename: 'RateLimitedError', code: 'TOO_MANY_ACTIVE_TASKS' });
    });
    await withApp({ env: { REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '0' } }, async (t) => {
      // More than both defaults (100 active, 120 per minute).
      const results = [];
      for (let round = 0; round < 13; round++) results.push(...(await Promise.all(Array.from({ length: 10 }, () => create(t)))));
      expect(results.filter((r) => r.__typename === 'CreateVideoTaskSuccess')).toHaveLength(130);
    });
  });

  it('limits stored by `npm run keys -- create NAME --max-active N --per-minute N` apply', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-limits-cli-'));
    const temp = kind === 'postgres' ? await createTempDatabase() : undefined;
    const env = { REELAY_DATA_DIR: dataDir, DATABASE_URL: temp?.url ?? '' };
    try {
      const out = (await keys(env, 'create', 'carol', '--max-active', '2', '--per-minute', '1000')).stdout;
      const key = /\n(rly_[A-Za-z0-9_-]+)/.exec(out)?.[1];
      expect(key).toBeDefined();
      expect((await keys(env, 'list')).stdout).toMatch(/^carol\t.*\tactive\tmax-active 2, per-minute 1000$/m);
      if (kind === kinds.at(-1)) {
        // Flag parsing is the same on every database: checked once.
        await expect(keys(env, 'create', 'dave', '--max-active', '-1')).rejects.toMatchObject({ stderr: expect.stringMatching(/max-active/) });
        await expect(keys(env, 'create', 'dave', '--per-minute', 'many')).rejects.toMatchObject({ stderr: expect.stringMatching(/--per-minute must be a whole number/) });
      }
      await withApp({ dataDir, persistent: true, databaseUrl: temp?.url, env: { REELAY_MAX_ACTIVE_TASKS_PER_KEY: '50' } }, async (t) => {
        await createMany(t, 2, key);
        expect(await create(t, key)).toMatchObject({ code: 'TOO_MANY_ACTIVE_TASKS' });
      });
    } finally {
      await temp?.drop().catch(() => {});
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('exactly the limit succeed under many concurrent creates of one key (across two API processes on Postgres)', async () => {
    const first = await startTestApp({ db: kind, configure: (c) => (c.role = 'api') });
    // Postgres: a second API process on the same database; PGlite has one process.
    const second = kind === 'postgres' ? await startTestApp({ databaseUrl: first.tempDb!.url, configure: (c) => (c.role = 'api') }) : first;
    try {
      const db = first.app.services.database.db;
      const active = await createApiKey(db, 'burst-active', { maxActive: 10, perMinute: 0 });
      const perMinute = await createApiKey(db, 'burst-rate', { maxActive: 0, perMinute: 10 });
      const burst = (key: string) => Promise.all(Array.from({ length: 40 }, (_, i) => create(i % 2 ? second : first, key, `burst ${i}`)));
      const a = await burst(active);
      expect(a.filter((r) => r.__typename === 'CreateVideoTaskSuccess')).toHaveLength(10);
      expect(a.filter((r) => r.code === 'TOO_MANY_ACTIVE_TASKS')).toHaveLength(30);
      const r = await burst(perMinute);
      expect(r.filter((x) => x.__typename === 'CreateVideoTaskSuccess')).toHaveLength(10);
      expect(r.filter((x) => x.code === 'RATE_LIMITED')).toHaveLength(30);
      const [row] = await execRows<{ n: number }>(db, sql`select count(*)::int as n from tasks`);
      expect(Number(row!.n)).toBe(20);
    } finally {
      if (second !== first) await second.stop();
      await first.stop();
    }
  });
});
