// The GraphQL API without a runner: validation, idempotency, pagination,
// filters, stats, auth isolation, on PGlite and on Postgres.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../../src/db/api-keys.js';
import { cancelTaskRow, failTask, transition } from '../../src/runner/transitions.js';
import { TINY_PNG } from '../emulators/media.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { subscribe, wsClient } from '../support/ws.js';

const kinds = await databaseKinds();
const ALICE = 'alice-key-123456';
const BOB = 'bob-key-1234567';

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id status queuePosition createdAt } }
      ... on Error { code message }
      ... on ValidationError { field }
      ... on UnsupportedError { field }
    }
  }
`;

const LIST = /* GraphQL */ `
  query List($first: Int, $after: String, $last: Int, $before: String, $filter: TaskFilter, $orderBy: TaskOrder) {
    tasks(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
      totalCount
      edges { cursor node { id prompt status } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`;

describe.each(kinds)('GraphQL API on %s', (kind) => {
  let t: TestApp;
  const create = async (input: Record<string, unknown>, key = ALICE) => (await t.gql(CREATE, { input }, key)).data!.createVideoTask;

  beforeAll(async () => {
    t = await startTestApp({
      db: kind,
      env: { REELAY_API_KEYS: `alice:${ALICE},bob:${BOB}`, REELAY_MAX_IMAGE_BYTES: '2048' },
      configure: (c) => (c.role = 'api'),
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('rejects missing and wrong keys with UNAUTHENTICATED and HTTP 401', async () => {
    for (const key of [undefined, 'wrong-key-000000']) {
      const res = await t.gql('{ stats { total } }', {}, key);
      expect(res.status).toBe(401);
      expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify(res)).not.toContain(ALICE);
    }
  });

  it('refuses a WebSocket connection without a valid key with close code 4403', async () => {
    const closed = new Promise<number>((resolve) => {
      const client = wsClient(t.wsUrl, 'wrong-key-000000', { on: { closed: (e) => resolve((e as { code: number }).code) } });
      subscribe(client, 'subscription { tasksUpdated { id } }', {}, (d) => d);
    });
    expect(await closed).toBe(4403);
  });

  it('validation errors are data with a code and the offending field', async () => {
    expect(await create({ prompt: '   ' })).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION_ERROR', field: 'prompt' });
    expect(await create({ prompt: 'x', provider: 'nope' })).toMatchObject({ __typename: 'ValidationError', code: 'UNKNOWN_PROVIDER', field: 'provider' });
    expect(await create({ prompt: 'x', width: 640 })).toMatchObject({ __typename: 'ValidationError', field: 'height' });
    expect(await create({ prompt: 'x', durationSeconds: 500 })).toMatchObject({ __typename: 'UnsupportedError', code: 'UNSUPPORTED', field: 'durationSeconds' });
    expect(await create({ prompt: 'x', negativePrompt: 'blurry' })).toMatchObject({ __typename: 'UnsupportedError', field: 'negativePrompt' });
    expect(await create({ prompt: 'x', aspectRatio: 'wide' })).toMatchObject({ __typename: 'ValidationError', field: 'aspectRatio' });
    expect(await create({ prompt: 'x', image: { url: 'https://example.com/a.png', base64: 'aGk=' } })).toMatchObject({ __typename: 'ValidationError', field: 'image' });
    expect(await create({ prompt: 'x', image: { url: 'ftp://example.com/a.png' } })).toMatchObject({ field: 'image.url' });
    expect(await create({ prompt: 'x', image: { base64: Buffer.from('not an image at all').toString('base64') } })).toMatchObject({ code: 'INVALID_IMAGE', field: 'image.base64' });
    const big = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(4096)]);
    expect(await create({ prompt: 'x', image: { base64: big.toString('base64') } })).toMatchObject({ code: 'IMAGE_TOO_LARGE' });
    // Nothing was stored by the rejected requests.
    const list = await t.gql(LIST, { first: 5 }, ALICE);
    expect(list.data.tasks.totalCount).toBe(0);
    // GraphQL-level type errors are still errors, not crashes.
    const bad = await t.gql('mutation { createVideoTask(input: { prompt: 5 }) { __typename } }', {}, ALICE);
    expect(bad.errors?.length).toBeGreaterThan(0);
  });

  it('accepts an image as a GraphQL multipart upload and stores it with the task', async () => {
    const png = TINY_PNG;
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: CREATE.replace('task { id status queuePosition createdAt }', 'task { id inputImage { url contentType } }'), variables: { input: { prompt: 'from an upload', image: { file: null } } } }));
    form.set('map', JSON.stringify({ 0: ['variables.input.image.file'] }));
    form.set('0', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'tiny.png');
    const res = await fetch(`${t.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}`, 'x-graphql-yoga-csrf': '1' }, body: form });
    const body = (await res.json()) as any;
    expect(body.errors).toBeUndefined();
    const task = body.data.createVideoTask.task;
    expect(task.inputImage.contentType).toBe('image/png');
    const stored = await fetch(task.inputImage.url);
    expect(Buffer.from(await stored.arrayBuffer()).equals(png)).toBe(true);

    const bad = new FormData();
    bad.set('operations', JSON.stringify({ query: CREATE, variables: { input: { prompt: 'not an image', image: { file: null } } } }));
    bad.set('map', JSON.stringify({ 0: ['variables.input.image.file'] }));
    bad.set('0', new Blob([Buffer.from('%PDF-1.4 not an image')], { type: 'image/png' }), 'fake.png');
    const rejected = (await (await fetch(`${t.url}/graphql`, { method: 'POST', headers: { authorization: `Bearer ${ALICE}`, 'x-graphql-yoga-csrf': '1' }, body: bad })).json()) as any;
    expect(rejected.data.createVideoTask).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_IMAGE', field: 'image.file' });
  });

  it('idempotency: the same key from the same owner gives the same task', async () => {
    const a = await create({ prompt: 'idem', idempotencyKey: 'k-1' });
    const b = await create({ prompt: 'idem', idempotencyKey: 'k-1' });
    expect(b.task.id).toBe(a.task.id);
    const other = await create({ prompt: 'idem', idempotencyKey: 'k-1' }, BOB);
    expect(other.task.id).not.toBe(a.task.id);
    const c = await create({ prompt: 'idem', idempotencyKey: 'k-2' });
    expect(c.task.id).not.toBe(a.task.id);
    // Concurrent duplicates collapse too.
    const many = await Promise.all(Array.from({ length: 5 }, () => create({ prompt: 'race', idempotencyKey: 'k-race' })));
    expect(new Set(many.map((m) => m.task.id)).size).toBe(1);
  });

  it('auth isolation: a key sees and cancels only its own tasks', async () => {
    const mine = await create({ prompt: 'alice private' });
    expect((await t.gql(`query($id: ID!) { task(id: $id) { id } }`, { id: mine.task.id }, BOB)).data.task).toBeNull();
    const cancel = await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename ... on Error { code } } }`, { id: mine.task.id }, BOB);
    expect(cancel.data.cancelTask).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const bobList = await t.gql(LIST, { first: 50, filter: { search: 'alice private' } }, BOB);
    expect(bobList.data.tasks.totalCount).toBe(0);
    const client = wsClient(t.wsUrl, BOB);
    const sub = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { id } }`, { id: mine.task.id }, (d) => d);
    await sub.completed.catch(() => {});
    await expect.poll(() => sub.errors.length).toBeGreaterThan(0);
    expect(JSON.stringify(sub.errors)).toContain('NOT_FOUND');
    await client.dispose();
    expect((await t.gql(`query($id: ID!) { task(id: $id) { id } }`, { id: mine.task.id }, ALICE)).data.task.id).toBe(mine.task.id);
  });

  it('keyset pagination forward and backward with filters and totalCount', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await create({ prompt: `page item ${i}` }, BOB)).task.id);
    await create({ prompt: 'unrelated' }, BOB);
    const filter = { search: 'PAGE item' };
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const res: { data?: any } = await t.gql(LIST, { first: 3, after, filter }, BOB);
      const conn: any = res.data.tasks;
      expect(conn.totalCount).toBe(7);
      seen.push(...conn.edges.map((e: any) => e.node.id));
      pages++;
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    const asc = await t.gql(LIST, { first: 10, filter, orderBy: 'CREATED_AT_ASC' }, BOB);
    expect(asc.data.tasks.edges.map((e: any) => e.node.id)).toEqual(ids);

    const lastPage = await t.gql(LIST, { last: 2, filter }, BOB);
    expect(lastPage.data.tasks.edges.map((e: any) => e.node.id)).toEqual([ids[1], ids[0]]);
    expect(lastPage.data.tasks.pageInfo.hasPreviousPage).toBe(true);
    const before = await t.gql(LIST, { last: 2, before: lastPage.data.tasks.pageInfo.startCursor, filter }, BOB);
    expect(before.data.tasks.edges.map((e: any) => e.node.id)).toEqual([ids[3], ids[2]]);
    expect(before.data.tasks.pageInfo.hasNextPage).toBe(true);

    const bad = await t.gql(LIST, { first: 2, after: 'garbage' }, BOB);
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const tooMany = await t.gql(LIST, { first: 1000 }, BOB);
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('filters by status, provider, model and creation time; queue positions and stats', async () => {
    const db = t.app.services.database.db;
    await createApiKey(db, 'carol').then(async (k) => {
      // A stored key works like an env key; use it for an isolated owner.
      const made: any[] = [];
      for (const p of ['one', 'two', 'three', 'four', 'five']) made.push((await create({ prompt: p }, k)).task);
      // Fair order (alice and bob queue here too): carol's tasks come one round apart; exact values in test/runner/fair-queue.test.ts.
      const positions = made.map((m) => m.queuePosition as number);
      expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
      await db.transaction(async (tx) => {
        await tx.execute(sql`update tasks set status = 'PROCESSING', started_at = now() - interval '10 seconds' where id in (${made[0].id}::uuid, ${made[1].id}::uuid, ${made[2].id}::uuid)`);
      });
      await transition(db, made[0].id, { status: 'COMPLETED', completedAt: sql`now()` }, { event: { message: 'done' } });
      await failTask(db, made[1].id, 'UPSTREAM_FAILED', 'nope');
      await cancelTaskRow(db, made[3].id);
      const stats = (await t.gql('{ stats { total queued processing completed failed cancelled successRate avgDurationSeconds byProvider { provider total completed failed } } }', {}, k)).data.stats;
      expect(stats).toMatchObject({ total: 5, queued: 1, processing: 1, completed: 1, failed: 1, cancelled: 1, successRate: 0.5, byProvider: [{ provider: 'local', total: 5, completed: 1, failed: 1 }] });
      expect(stats.avgDurationSeconds).toBeGreaterThan(5);
      const byStatus = await t.gql(LIST, { first: 10, filter: { status: ['FAILED', 'CANCELLED'] } }, k);
      expect(byStatus.data.tasks.edges.map((e: any) => e.node.prompt).sort()).toEqual(['four', 'two']);
      const none = await t.gql(LIST, { first: 10, filter: { provider: 'other' } }, k);
      expect(none.data.tasks.totalCount).toBe(0);
      const future = await t.gql(LIST, { first: 10, filter: { createdAfter: new Date(Date.now() + 60_000).toISOString() } }, k);
      expect(future.data.tasks.totalCount).toBe(0);
      const past = await t.gql(LIST, { first: 10, filter: { createdBefore: new Date(Date.now() + 60_000).toISOString(), model: null } }, k);
      expect(past.data.tasks.totalCount).toBe(5);
      const filteredStats = (await t.gql('query($f: TaskFilter) { stats(filter: $f) { total } }', { f: { status: ['QUEUED'] } }, k)).data.stats;
      expect(filteredStats.total).toBe(1);
      // Revoked keys stop working.
      expect(await revokeApiKey(db, 'carol')).toBe(true);
      await expect.poll(async () => (await t.gql('{ stats { total } }', {}, k)).status, { timeout: 5000 }).toBe(401);
    });
  });

  it('a page of tasks with events costs a constant number of queries', async () => {
    const page = async (n: number) => {
      const before = t.queries.length;
      const res = await t.gql(`query($n: Int) { tasks(first: $n) { totalCount edges { node { id queuePosition events { status message } } } } }`, { n }, BOB);
      expect(res.errors).toBeUndefined();
      expect(res.data.tasks.edges.every((e: any) => e.node.events.length >= 1)).toBe(true);
      return { rows: res.data.tasks.edges.length, queries: t.queries.length - before };
    };
    const small = await page(2);
    const large = await page(8);
    expect(small.rows).toBe(2);
    expect(large.rows).toBe(8);
    expect(large.queries).toBe(small.queries);
    expect(large.queries).toBeLessThanOrEqual(6);
  });

  it('providers, health and /health', async () => {
    const res = await t.gql('{ providers { id kind models healthy capabilities { textToVideo imageToVideo cancel progress seed } } health { status db providers { id healthy } } }', {}, ALICE);
    expect(res.data.providers).toEqual([{ id: 'local', kind: 'local', models: expect.any(Array), healthy: true, capabilities: { textToVideo: true, imageToVideo: true, cancel: true, progress: true, seed: true } }]);
    expect(res.data.health).toMatchObject({ status: 'ok', db: true });
    const h = await fetch(`${t.url}/health`);
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: 'ok', db: true, providers: [{ id: 'local', healthy: true }] });
  });

  it('tasksUpdated streams the changes of the caller\'s tasks that match the filter', async () => {
    const client = wsClient(t.wsUrl, ALICE);
    const sub = subscribe(client, `subscription($f: TaskFilter) { tasksUpdated(filter: $f) { id status prompt } }`, { f: { status: ['CANCELLED'] } }, (d) => d.tasksUpdated);
    // Wait until the subscription is live: a cancelled probe task shows up on it.
    let probe = '';
    await expect
      .poll(async () => {
        if (probe && sub.values.some((v) => v.id === probe)) return true;
        probe = (await create({ prompt: 'dashboard: probe' })).task.id;
        await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename } }`, { id: probe }, ALICE);
        return sub.values.some((v) => v.id === probe);
      })
      .toBe(true);
    const mine = (await create({ prompt: 'dashboard: mine' })).task;
    const kept = (await create({ prompt: 'dashboard: kept' })).task;
    const theirs = (await create({ prompt: 'dashboard: theirs' }, BOB)).task;
    await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename } }`, { id: theirs.id }, BOB);
    await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename } }`, { id: mine.id }, ALICE);
    const got = await sub.waitFor((v) => v.id === mine.id);
    expect(got.status).toBe('CANCELLED');
    expect(sub.values.map((v) => v.id)).not.toContain(theirs.id);
    expect(sub.values.map((v) => v.id)).not.toContain(kept.id);
    await client.dispose();
  });

  it('subscriptions also work over SSE', async () => {
    const task = (await create({ prompt: 'watched over SSE' })).task;
    const res = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${ALICE}` },
      body: JSON.stringify({ query: 'subscription($id: ID!) { taskUpdated(id: $id) { status } }', variables: { id: task.id } }),
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
    };
    await readUntil('QUEUED');
    await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename } }`, { id: task.id }, ALICE);
    await readUntil('CANCELLED');
    expect(text).toContain('"status":"CANCELLED"');
    await reader.cancel();
  });

  it('serves GraphiQL with the example operations', async () => {
    const res = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('createVideoTask');
    expect(html).toContain('taskUpdated');
  });
});
