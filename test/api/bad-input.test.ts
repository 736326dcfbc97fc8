// Bad input always gets a clear error, never INTERNAL_SERVER_ERROR: NUL bytes,
// empty URLs, out-of-range numbers, non-RFC-3339 dates, dates Postgres cannot
// store and forged cursors — on PGlite and on Postgres.
import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { TINY_PNG } from '../emulators/media.js';

const kinds = await databaseKinds();
const PNG_BASE64 = TINY_PNG.toString('base64');

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id } }
      ... on Error { code message }
      ... on ValidationError { field }
      ... on UnsupportedError { field }
    }
  }
`;
const LIST = 'query($after: String, $before: String, $filter: TaskFilter) { tasks(after: $after, before: $before, filter: $filter) { totalCount } }';
const cursorOf = (ms: number) => Buffer.from(JSON.stringify([ms, '0b7d2c5e-8f1a-4c3b-9d2e-123456789abc'])).toString('base64url');

describe.each(kinds)('bad input on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ db: kind, configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('NUL bytes and an empty image URL are ValidationErrors naming the field', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ prompt: 'a\u0000b' }, 'prompt'],
      [{ prompt: 'x', negativePrompt: 'blurry\u0000' }, 'negativePrompt'],
      [{ prompt: 'x', idempotencyKey: 'key\u0000' }, 'idempotencyKey'],
      [{ prompt: 'x', model: '\u0000' }, 'model'],
      [{ prompt: 'x', provider: 'local\u0000' }, 'provider'],
      [{ prompt: 'x', image: { url: '' } }, 'image.url'],
      [{ prompt: 'x', image: { url: 'https://example.com/\u0000.png' } }, 'image.url'],
      [{ prompt: 'x', image: { base64: '\u0000' } }, 'image.base64'],
    ];
    for (const [input, field] of cases) {
      const res = await t.gql(CREATE, { input });
      expect(res.errors, JSON.stringify(input)).toBeUndefined();
      expect(res.data.createVideoTask, JSON.stringify(input)).toMatchObject({ __typename: 'ValidationError', field, message: expect.any(String) });
    }
  });

  it("graphql-js's coercion and validation errors reach the client unmasked with status 400", async () => {
    for (const [input, where] of [
      [{ prompt: 'x', width: 2147483648, height: 64 }, 'input.width'],
      [{ prompt: 'x', seed: 1.5 }, 'input.seed'],
      [{ prompt: 'x', seed: '1' }, 'input.seed'],
      [{ prompt: 'x', durationSeconds: 'long' }, 'input.durationSeconds'],
      [{ prompt: 'x', unknownField: 1 }, 'unknownField'],
      [{ prompt: null }, 'input.prompt'],
    ] as const) {
      const res = await t.gql(CREATE, { input });
      expect(res.status, JSON.stringify(input)).toBe(400);
      expect(res.errors?.[0]?.message).toContain(where);
      expect(JSON.stringify(res)).not.toContain('INTERNAL_SERVER_ERROR');
    }
    const literal = await t.gql('mutation { createVideoTask(input: { prompt: "x", seed: 1.5 }) { __typename } }');
    expect(literal.status).toBe(400);
    expect(literal.errors?.[0]).toMatchObject({ message: expect.stringContaining('Int cannot represent'), extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
  });

  it('DateTime takes only RFC 3339 timestamps that Postgres can store; anything else is BAD_USER_INPUT', async () => {
    for (const createdAfter of ['1', '2026-01-01', 'yesterday', '+275760-09-13T00:00:00.000Z', '2026-02-30T00:00:00Z', '0000-06-01T00:00:00Z', '0001-01-01T00:00:00+01:00', '9999-12-31T23:59:59-01:00']) {
      const res = await t.gql(LIST, { filter: { createdAfter } });
      expect(res.status, createdAfter).toBe(400);
      expect(res.errors?.[0]?.extensions?.code, createdAfter).toBe('BAD_USER_INPUT');
      expect(res.errors?.[0]?.message).toContain('filter.createdAfter');
    }
    const literal = await t.gql('{ tasks(filter: { createdBefore: "1" }) { totalCount } }');
    expect(literal.status).toBe(400);
    expect(literal.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    for (const createdAfter of ['2026-01-31T12:00:00Z', '2026-01-31T12:00:00.123+02:00', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z']) {
      const res = await t.gql(LIST, { filter: { createdAfter } });
      expect(res.errors, createdAfter).toBeUndefined();
      expect(res.data.tasks.totalCount).toBe(0);
    }
  });

  it('cursors that do not decode to a storable key and NUL bytes in filters are BAD_USER_INPUT', async () => {
    for (const after of [cursorOf(8.64e15 + 1), cursorOf(8.64e15), cursorOf(-8.64e15), cursorOf(1.5), 'garbage', '', 'A'.repeat(10_000)]) {
      const res = await t.gql(LIST, { after });
      expect(res.errors?.[0]?.extensions, after.slice(0, 20)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    }
    const before = await t.gql(LIST, { before: cursorOf(-1e15) });
    expect(before.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'before' });
    for (const key of ['search', 'model', 'provider']) {
      const res = await t.gql(LIST, { filter: { [key]: 'a\u0000b' } });
      expect(res.errors?.[0]?.extensions, key).toMatchObject({ code: 'BAD_USER_INPUT', field: `filter.${key}` });
      const stats = await t.gql('query($f: TaskFilter) { stats(filter: $f) { total } }', { f: { [key]: '\u0000' } });
      expect(stats.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
  });

  it('removes the input image it stored when the create then fails', async () => {
    const db = t.app.services.database.db;
    await db.execute(sql.raw(`create function reelay_test_refuse() returns trigger language plpgsql as $$ begin if new.prompt = 'refused by the database' then raise exception 'refused for the test'; end if; return new; end $$`));
    await db.execute(sql.raw(`create trigger reelay_test_refuse before insert on tasks for each row execute function reelay_test_refuse()`));
    try {
      const before = fs.readdirSync(t.config.filesDir);
      const res = await t.gql(CREATE, { input: { prompt: 'refused by the database', image: { base64: PNG_BASE64 } } });
      expect(res.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(fs.readdirSync(t.config.filesDir)).toEqual(before);
      // The same image with a create that succeeds is kept.
      const ok = await t.gql(CREATE, { input: { prompt: 'stored', image: { base64: PNG_BASE64 } } });
      expect(ok.data.createVideoTask.__typename).toBe('CreateVideoTaskSuccess');
      expect(fs.readdirSync(t.config.filesDir)).toContain(ok.data.createVideoTask.task.id);
    } finally {
      await db.execute(sql.raw('drop trigger reelay_test_refuse on tasks'));
    }
  });
});
