// Plain creates (no per-key limits, no idempotency key) are group-committed:
// those that arrive while one is in flight go out as one multi-row statement,
// each caller gets its own task, a bad row fails alone, every task is
// notified, and every commit is a durable one (synchronous_commit untouched).
// On PGlite and Postgres.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/db/api-keys.js';
import { execRows, type Db } from '../../src/db/client.js';
import { createTask } from '../../src/db/create-task.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';

const kinds = await databaseKinds();

function apiApp(kind: 'pglite' | 'postgres') {
  return startTestApp({ db: kind, env: { REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '0' }, configure: (c) => (c.role = 'api') });
}

/** Statements that insert tasks. */
function taskInserts(t: TestApp, from: number): string[] {
  return t.queries.slice(from).filter((q) => /insert into "tasks"/i.test(q));
}

/**
 * A test hook in the database: every task insert logs the transaction's
 * synchronous_commit; a task whose prompt is 'refuse me' is refused.
 */
async function installHook(db: Db): Promise<void> {
  await db.execute(sql`create table commit_log (setting text not null)`);
  await db.execute(sql.raw(`create function test_hook() returns trigger language plpgsql as $$
    begin
      insert into commit_log values (current_setting('synchronous_commit'));
      if new.prompt = 'refuse me' then raise exception 'refused by the test hook'; end if;
      return new;
    end $$`));
  await db.execute(sql`create trigger test_hook before insert on tasks for each row execute function test_hook()`);
}

describe.each(kinds)('group commit on %s', (kind) => {
  it('concurrent creates share statements; each caller gets its own task, notified, durably committed', async () => {
    const t = await apiApp(kind);
    try {
      const db = t.app.services.database.db;
      await installHook(db);
      const heard = new Set<string>();
      const off = t.app.services.events.onTask((id) => heard.add(id));
      const from = t.queries.length;
      const prompts = Array.from({ length: 50 }, (_, i) => `burst ${i}`);
      const image = { kind: 'url' as const, url: 'https://example.com/a.png' };
      const results = await Promise.all(
        prompts.map((prompt, i) => createTask(db, { owner: `o${i % 3}`, providerId: 'local', prompt, params: { seed: i }, ...(i === 30 ? { inputImage: image, model: 'm', negativePrompt: 'n' } : {}) })),
      );
      // The first two go out alone at once (two lanes); the other 48 arrived while they were in flight.
      const statements = taskInserts(t, from);
      expect(statements.length).toBeLessThan(50);
      expect(statements.length).toBeLessThanOrEqual(3);
      results.forEach((r, i) => {
        expect(r.created).toBe(true);
        const extra = i === 30 ? { inputImage: image, model: 'm', negativePrompt: 'n' } : { inputImage: null, model: null, negativePrompt: null };
        expect(r.task).toMatchObject({ prompt: `burst ${i}`, owner: `o${i % 3}`, status: 'QUEUED', params: { seed: i }, ...extra });
        expect(r.task.createdAt).toBeInstanceOf(Date);
      });
      const ids = results.map((r) => r.task.id);
      expect(new Set(ids).size).toBe(50);
      const [stored] = await execRows<{ tasks: number; events: number; images: number }>(
        db,
        sql`select (select count(*)::int from tasks) as tasks,
                   (select count(*)::int from task_events where status = 'QUEUED' and message = 'queued for local') as events,
                   (select count(*)::int from tasks where input_image is not null) as images`,
      );
      expect(stored).toEqual({ tasks: 50, events: 50, images: 1 });
      await expect.poll(() => ids.filter((id) => !heard.has(id)).length).toBe(0);
      off();
      // Over the GraphQL API too (limits off): all created.
      const key = await createApiKey(db, 'burst');
      const api = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          t.gql(`mutation($p: String!) { createVideoTask(input: { prompt: $p }) { __typename ... on CreateVideoTaskSuccess { task { id } } } }`, { p: `api ${i}` }, key),
        ),
      );
      expect(new Set(api.map((r) => r.data?.createVideoTask?.task?.id)).size).toBe(20);
      // With limits (a transaction after the owner's lock), and with an idempotency key.
      const limited = await createApiKey(db, 'limited', { maxActive: 100, perMinute: 100 });
      for (const input of [{ prompt: 'limited' }, { prompt: 'keyed', idempotencyKey: 'k' }]) {
        const res = await t.gql(`mutation($i: CreateVideoTaskInput!) { createVideoTask(input: $i) { __typename } }`, { i: input }, limited);
        expect(res.data?.createVideoTask?.__typename).toBe('CreateVideoTaskSuccess');
      }
      // No create changed synchronous_commit inside its transaction.
      const settings = await execRows<{ setting: string; n: number }>(db, sql`select setting, count(*)::int as n from commit_log group by setting`);
      expect(settings).toEqual([{ setting: 'on', n: 72 }]);
    } finally {
      await t.stop();
    }
  });

  it('a member tried again after its group statement committed gets its own row back, not a duplicate-key error', async () => {
    const t = await apiApp(kind);
    try {
      const db = t.app.services.database.db;
      // As if the group statement committed and its answer was lost: the retry finds reelay's own id.
      const first = await createTask(db, { owner: 'o', providerId: 'local', prompt: 'once' });
      const again = await createTask(db, { owner: 'o', providerId: 'local', prompt: 'once', id: first.task.id });
      expect(again.task.id).toBe(first.task.id);
      const [stored] = await execRows<{ n: number }>(db, sql`select count(*)::int as n from tasks`);
      expect(stored!.n).toBe(1);
      // Someone else's row under that id is still an error.
      await expect(createTask(db, { owner: 'p', providerId: 'local', prompt: 'once', id: first.task.id })).rejects.toThrow();
    } finally {
      await t.stop();
    }
  });

  it('a member that fails fails alone, with its own error; the others are created', async () => {
    const t = await apiApp(kind);
    try {
      const db = t.app.services.database.db;
      await installHook(db);
      const first = await createTask(db, { owner: 'o', providerId: 'local', prompt: 'first' });
      const from = t.queries.length;
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          createTask(db, {
            owner: 'o',
            providerId: 'local',
            prompt: i === 7 ? 'refuse me' : `member ${i}`,
            // A duplicate id fails too, with a different error.
            id: i === 12 ? first.task.id : undefined,
          }),
        ),
      );
      results.forEach((r, i) => {
        if (i === 7) expect(r.status === 'rejected' && String((r.reason as Error).cause ?? r.reason)).toMatch(/refused by the test hook/);
        else if (i === 12) expect(r.status === 'rejected' && String((r.reason as Error).cause ?? r.reason)).toMatch(/duplicate key|unique/i);
        else expect(r.status === 'fulfilled' && r.value.task.prompt).toBe(`member ${i}`);
      });
      const [stored] = await execRows<{ n: number }>(db, sql`select count(*)::int as n from tasks`);
      expect(stored!.n).toBe(1 + 18);
      // The failing members were in a group statement (which failed as a whole), then tried alone.
      const inserts = taskInserts(t, from);
      expect(inserts.filter((q) => /jsonb_to_recordset/.test(q))).toHaveLength(1);
      expect(inserts.length).toBe(2 + 1 + 18);
    } finally {
      await t.stop();
    }
  });
});
