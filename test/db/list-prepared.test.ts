// listTasks runs unfiltered pages through statements built once per shape
// (columns, direction, cursor or not) and shared by every caller: each call
// must still get its own owner's rows, after its own cursor, with its own
// columns — exactly what the statement built per call (the filtered path)
// answers. On PGlite and Postgres.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { listTasks, type ListTasksArgs } from '../../src/db/list-tasks.js';
import { TASK_STATUSES, type TaskRow } from '../../src/db/schema.js';
import { startTestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';

const kinds = await databaseKinds();

/** The same page through the per-call statement: a filter that keeps every row. */
const unprepared = (db: Db, args: ListTasksArgs) => listTasks(db, { ...args, filter: { status: [...TASK_STATUSES] } });

describe.each(kinds)('listTasks on %s', (kind) => {
  it('answers from shared statements what it answers per call, for each owner, cursor, direction and column set', async () => {
    const t = await startTestApp({ db: kind, configure: (c) => (c.role = 'api') });
    try {
      const db = t.app.services.database.db;
      await db.execute(sql`
        insert into tasks (owner, provider_id, prompt, status, created_at, updated_at)
        select case when i % 3 = 0 then 'bob' else 'alice' end, 'local', 'task ' || i, 'QUEUED',
               timestamptz '2026-01-01' + i * interval '1 second', now()
        from generate_series(1, 30) as i`);
      const slim: Array<keyof TaskRow> = ['id', 'createdAt', 'owner', 'status'];
      for (const owner of ['alice', 'bob', 'nobody']) {
        for (const order of ['CREATED_AT_DESC', 'CREATED_AT_ASC'] as const) {
          for (const direction of ['forward', 'backward'] as const) {
            for (const columns of [slim, null, ['id', 'createdAt', 'owner', 'prompt'] as Array<keyof TaskRow>]) {
              let cursor: ListTasksArgs['cursor'] = null;
              const seen: string[] = [];
              for (let page = 0; page < 10; page++) {
                const args: ListTasksArgs = { owner, order, direction, cursor, limit: 4, columns };
                const got = await listTasks(db, args);
                expect(got, JSON.stringify({ owner, order, direction, columns, page })).toEqual(await unprepared(db, args));
                for (const r of got.rows) {
                  expect(r.owner).toBe(owner);
                  expect(Object.keys(r).sort()).toEqual(columns ? [...columns].sort() : expect.arrayContaining(['prompt', 'params', 'result']));
                }
                seen.push(...got.rows.map((r) => r.id));
                if (!got.more || got.rows.length === 0) break;
                const edge = direction === 'forward' ? got.rows.at(-1)! : got.rows[0]!;
                cursor = { createdAt: edge.createdAt, id: edge.id };
              }
              expect(new Set(seen).size, `${owner} ${order} ${direction}`).toBe(owner === 'alice' ? 20 : owner === 'bob' ? 10 : 0);
            }
          }
        }
      }
    } finally {
      await t.stop();
    }
  });

  it('builds an unfiltered page statement once per shape; a filtered one per call', async () => {
    const t = await startTestApp({ db: kind, configure: (c) => (c.role = 'api') });
    try {
      let built = 0;
      const db = t.app.services.database.db;
      const counting = new Proxy(db, {
        get(target, prop) {
          const value: unknown = Reflect.get(target, prop, target);
          if (prop === 'select') built++;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const args: ListTasksArgs = { owner: 'alice', order: 'CREATED_AT_DESC', direction: 'forward', limit: 5, columns: ['id', 'createdAt', 'owner', 'status'] };
      for (const owner of ['alice', 'bob', 'alice']) await listTasks(counting, { ...args, owner });
      expect(built).toBe(1);
      await listTasks(counting, { ...args, cursor: { createdAt: new Date(), id: '00000000-0000-7000-8000-000000000000' } });
      await listTasks(counting, { ...args, columns: null });
      expect(built).toBe(3);
      await listTasks(counting, { ...args, filter: { provider: 'local' } });
      await listTasks(counting, { ...args, filter: { provider: 'local' } });
      expect(built).toBe(5);
    } finally {
      await t.stop();
    }
  });

  it('interleaved calls for different owners each get their own rows', async () => {
    const t = await startTestApp({ db: kind, configure: (c) => (c.role = 'api') });
    try {
      const db = t.app.services.database.db;
      await db.execute(sql`
        insert into tasks (owner, provider_id, prompt, status, created_at, updated_at)
        select 'owner' || (i % 5), 'local', 'task ' || i, 'QUEUED', timestamptz '2026-01-01' + i * interval '1 second', now()
        from generate_series(1, 50) as i`);
      const owners = Array.from({ length: 40 }, (_, i) => `owner${i % 5}`);
      const pages = await Promise.all(owners.map((owner) => listTasks(db, { owner, order: 'CREATED_AT_DESC', direction: 'forward', limit: 20, columns: ['id', 'createdAt', 'owner', 'status'] })));
      pages.forEach((p, i) => {
        expect(p.rows).toHaveLength(10);
        expect(new Set(p.rows.map((r) => r.owner))).toEqual(new Set([owners[i]]));
      });
    } finally {
      await t.stop();
    }
  });
});
