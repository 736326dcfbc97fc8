// Idempotency keys name one request: the same request under a used key gives
// the same task; a different one gives IdempotencyConflictError; keys expire
// after 24 hours. On PGlite and Postgres.
import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/db/api-keys.js';
import { execRows } from '../../src/db/client.js';
import { cancelTaskRow } from '../../src/runner/transitions.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { tinyPng } from '../emulators/media.js';
import { databaseKinds } from '../support/postgres.js';

const kinds = await databaseKinds();
const ALICE = 'alice-key-123456';
const BOB = 'bob-key-1234567';

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id prompt provider inputImage { url } } }
      ... on Error { code message }
      ... on RateLimitedError { retryAfterSeconds }
    }
  }
`;

const PNG_A = tinyPng(200, 30, 30);
const PNG_B = tinyPng(30, 200, 30);

describe.each(kinds)('idempotency keys on %s', (kind) => {
  let t: TestApp;
  const create = async (input: Record<string, unknown>, key = ALICE) => (await t.gql(CREATE, { input }, key)).data!.createVideoTask;
  const upload = async (input: Record<string, unknown>, bytes: Buffer) => {
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: CREATE, variables: { input: { ...input, image: { file: null } } } }));
    form.set('map', JSON.stringify({ 0: ['variables.input.image.file'] }));
    form.set('0', new Blob([new Uint8Array(bytes)], { type: 'image/png' }), 'in.png');
    const res = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}`, 'x-graphql-yoga-csrf': 'test', 'apollo-require-preflight': 'true' },
      body: form,
    });
    return ((await res.json()) as any).data.createVideoTask;
  };
  const countTasks = async (owner = 'alice') =>
    Number((await execRows<{ n: number }>(t.app.services.database.db, sql`select count(*)::int as n from tasks where owner = ${owner}`))[0]!.n);
  const storedDirs = () => (fs.existsSync(t.config.filesDir) ? fs.readdirSync(t.config.filesDir) : []);
  const expire = (key: string) => t.app.services.database.db.execute(sql`update idempotency_keys set expires_at = now() - interval '1 second' where key = ${key}`);

  beforeAll(async () => {
    t = await startTestApp({
      db: kind,
      env: { REELAY_API_KEYS: `alice:${ALICE},bob:${BOB}` },
      providers: [
        { id: 'local', kind: 'local', models: ['m1', 'm2'] },
        { id: 'local2', kind: 'local' },
        // Never contacted (no runner): a kind that takes a negative prompt.
        { id: 'lx', kind: 'lightx2v', baseUrl: 'http://127.0.0.1:9', models: ['lx-1'] },
      ],
      defaultProvider: 'local',
      configure: (c) => (c.role = 'api'),
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('the same request under a used key returns the same task and creates nothing', async () => {
    const input = { prompt: 'same', durationSeconds: 4, seed: 7, aspectRatio: '16:9', idempotencyKey: 'same-1' };
    const a = await create(input);
    expect(a.__typename).toBe('CreateVideoTaskSuccess');
    const before = await countTasks();
    // Equal after normalization: the prompt is trimmed, the provider is where routing sends it anyway.
    const b = await create({ ...input, prompt: '  same  ', provider: 'local' });
    expect(b).toMatchObject({ __typename: 'CreateVideoTaskSuccess', task: { id: a.task.id } });
    expect(await countTasks()).toBe(before);
    // Keys are per client.
    const other = await create(input, BOB);
    expect(other.task.id).not.toBe(a.task.id);
  });

  it('defaults count as given: leaving a field out is the same request as spelling out what the provider uses for it', async () => {
    const first = await create({ prompt: 'defaults', idempotencyKey: 'defaults-1' });
    expect(first.__typename).toBe('CreateVideoTaskSuccess');
    // local renders 5 s with its first model when none is named.
    for (const spelled of [{ durationSeconds: 5 }, { model: 'm1' }, { durationSeconds: 5, model: 'm1', provider: 'local' }]) {
      expect(await create({ prompt: 'defaults', idempotencyKey: 'defaults-1', ...spelled }), JSON.stringify(spelled)).toMatchObject({ task: { id: first.task.id } });
    }
    expect(await create({ prompt: 'defaults', idempotencyKey: 'defaults-1', durationSeconds: 6 })).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
  });

  it('a different prompt, negative prompt, provider, model, params or image under a used key is IDEMPOTENCY_KEY_REUSED', async () => {
    const base = { prompt: 'base', provider: 'lx', model: 'lx-1', negativePrompt: 'blurry', seed: 1, durationSeconds: 4, image: { url: 'https://example.com/a.png' } };
    const first = await create({ ...base, idempotencyKey: 'diff-1' });
    expect(first.__typename).toBe('CreateVideoTaskSuccess');
    const before = await countTasks();
    const variants: Array<Record<string, unknown>> = [
      { prompt: 'base!' },
      { negativePrompt: 'sharp' },
      { negativePrompt: null },
      { seed: 2 },
      { seed: null },
      { durationSeconds: 5 },
      { width: 832, height: 480 },
      { image: { url: 'https://example.com/b.png' } },
      { image: null },
    ];
    for (const change of variants) {
      const res = await create({ ...base, ...change, idempotencyKey: 'diff-1' });
      expect(res, JSON.stringify(change)).toMatchObject({ __typename: 'IdempotencyConflictError', code: 'IDEMPOTENCY_KEY_REUSED' });
      expect(res.message).toContain('diff-1');
    }
    // Provider and model (a local provider: no negative prompt there).
    const local = { prompt: 'route', model: 'm1', idempotencyKey: 'diff-2' };
    expect((await create(local)).__typename).toBe('CreateVideoTaskSuccess');
    expect(await create({ ...local, model: 'm2' })).toMatchObject({ __typename: 'IdempotencyConflictError', code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await create({ ...local, provider: 'local2', model: null })).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    // Leaving the model out is the same request as naming the provider's default (its first model, m1).
    expect(await create({ ...local, model: null })).toMatchObject({ __typename: 'CreateVideoTaskSuccess', task: { id: expect.any(String) } });
    expect(await countTasks()).toBe(before + 1);
    // The original request still replays.
    expect((await create({ ...base, idempotencyKey: 'diff-1' })).task.id).toBe(first.task.id);
  });

  it('an uploaded or base64 image counts by its bytes; a refused request leaves no stored image', async () => {
    const first = await upload({ prompt: 'with image', idempotencyKey: 'img-1' }, PNG_A);
    expect(first.__typename).toBe('CreateVideoTaskSuccess');
    const dirs = storedDirs();
    // Same bytes, by upload again or as base64 (raw or a data: URL): the same request.
    expect((await upload({ prompt: 'with image', idempotencyKey: 'img-1' }, PNG_A)).task.id).toBe(first.task.id);
    expect((await create({ prompt: 'with image', idempotencyKey: 'img-1', image: { base64: PNG_A.toString('base64') } })).task.id).toBe(first.task.id);
    expect((await create({ prompt: 'with image', idempotencyKey: 'img-1', image: { base64: `data:image/png;base64,${PNG_A.toString('base64')}` } })).task.id).toBe(first.task.id);
    // Other bytes: a different request.
    expect(await upload({ prompt: 'with image', idempotencyKey: 'img-1' }, PNG_B)).toMatchObject({ __typename: 'IdempotencyConflictError', code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await create({ prompt: 'with image', idempotencyKey: 'img-1', image: { base64: PNG_B.toString('base64') } })).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    // Neither the replays nor the conflicts kept their copy of the image.
    expect(storedDirs().sort()).toEqual(dirs.sort());
    expect((await fetch(first.task.inputImage.url)).status).toBe(200);
  });

  it('a key is remembered for 24 hours, then it may be used again', async () => {
    const first = await create({ prompt: 'day one', idempotencyKey: 'daily' });
    const [row] = await execRows<{ hours: number }>(
      t.app.services.database.db,
      sql`select extract(epoch from expires_at - now()) / 3600 as hours from idempotency_keys where key = 'daily'`,
    );
    expect(Number(row!.hours)).toBeGreaterThan(23.9);
    expect(Number(row!.hours)).toBeLessThanOrEqual(24);
    await expire('daily');
    // After expiry: a different request takes the key...
    const second = await create({ prompt: 'day two', idempotencyKey: 'daily' });
    expect(second.__typename).toBe('CreateVideoTaskSuccess');
    expect(second.task.id).not.toBe(first.task.id);
    // ...and from then on names the new request (for another 24 hours).
    expect((await create({ prompt: 'day two', idempotencyKey: 'daily' })).task.id).toBe(second.task.id);
    expect(await create({ prompt: 'day one', idempotencyKey: 'daily' })).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    // The same request after expiry is a new task too.
    await expire('daily');
    const third = await create({ prompt: 'day two', idempotencyKey: 'daily' });
    expect(third.task.id).not.toBe(second.task.id);
  });

  it('deleting the task frees its key', async () => {
    const first = await create({ prompt: 'to delete', idempotencyKey: 'del-1' });
    await cancelTaskRow(t.app.services.database.db, first.task.id);
    const del = await t.gql(`mutation($id: ID!) { deleteTask(id: $id) { __typename } }`, { id: first.task.id }, ALICE);
    expect(del.data.deleteTask.__typename).toBe('DeleteTaskSuccess');
    const again = await create({ prompt: 'something else', idempotencyKey: 'del-1' });
    expect(again.__typename).toBe('CreateVideoTaskSuccess');
  });

  it('concurrent creates under one key: one task; different requests: one wins, the rest conflict', async () => {
    const same = await Promise.all(Array.from({ length: 12 }, () => create({ prompt: 'race', idempotencyKey: 'race-1' })));
    expect(same.every((r) => r.__typename === 'CreateVideoTaskSuccess')).toBe(true);
    expect(new Set(same.map((r) => r.task.id)).size).toBe(1);
    const different = await Promise.all(Array.from({ length: 12 }, (_, i) => create({ prompt: `race ${i}`, idempotencyKey: 'race-2' })));
    expect(different.filter((r) => r.__typename === 'CreateVideoTaskSuccess')).toHaveLength(1);
    expect(different.filter((r) => r.code === 'IDEMPOTENCY_KEY_REUSED')).toHaveLength(11);
  });

  it('a replay returns its task even when the key is over its limits (it creates nothing)', async () => {
    const db = t.app.services.database.db;
    const key = await createApiKey(db, `limited-${kind}`, { maxActive: 1, perMinute: 0 });
    const first = await create({ prompt: 'only one', idempotencyKey: 'lim-1' }, key);
    expect(first.__typename).toBe('CreateVideoTaskSuccess');
    expect(await create({ prompt: 'a second one' }, key)).toMatchObject({ __typename: 'RateLimitedError', code: 'TOO_MANY_ACTIVE_TASKS' });
    expect((await create({ prompt: 'only one', idempotencyKey: 'lim-1' }, key)).task.id).toBe(first.task.id);
    // A new key over the limit is refused and not remembered: it works once there is room.
    expect(await create({ prompt: 'later', idempotencyKey: 'lim-2' }, key)).toMatchObject({ code: 'TOO_MANY_ACTIVE_TASKS' });
    await cancelTaskRow(db, first.task.id);
    expect((await create({ prompt: 'later', idempotencyKey: 'lim-2' }, key)).__typename).toBe('CreateVideoTaskSuccess');
  });
});
