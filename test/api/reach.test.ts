// Issue 9 ("Reach"), API part: retryTask, Relay's Node / node(id), and the key
// lifecycle (rotation with overlap, expiry, operator keys whose reads span
// every owner), through the real server on PGlite and on Postgres.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, createApiKeyWithId, listApiKeys, revokeApiKeys, rotateApiKey } from '../../src/db/api-keys.js';
import { parseKeysArgs, runKeysCommand } from '../../src/keys/commands.js';
import { cancelTaskRow, failTask, transition } from '../../src/runner/transitions.js';
import { TINY_PNG } from '../emulators/media.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { subscribe, wsClient } from '../support/ws.js';

const kinds = await databaseKinds();
const ALICE = 'alice-key-reach-1';
const BOB = 'bob-key-reach-12';
const OPS = 'ops-key-reach-123';

const TASK_FIELDS = 'id status prompt negativePrompt provider model params inputImage { url contentType } retryOf { id status } owner';

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { ${TASK_FIELDS} } }
      ... on Error { code message }
    }
  }
`;

const RETRY = /* GraphQL */ `
  mutation Retry($id: ID!) {
    retryTask(id: $id) {
      __typename
      ... on RetryTaskSuccess { task { ${TASK_FIELDS} } }
      ... on Error { code message }
      ... on ValidationError { field }
      ... on RateLimitedError { retryAfterSeconds }
    }
  }
`;

const NODE = /* GraphQL */ `
  query Node($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on VideoTask { prompt status }
    }
  }
`;

const LIST = /* GraphQL */ `
  query List($owner: String, $filter: TaskFilter) {
    tasks(first: 100, owner: $owner, filter: $filter) { totalCount nodes { id prompt owner } }
  }
`;

const STATS = /* GraphQL */ `
  query Stats($owner: String) {
    stats(owner: $owner) { total queued failed cancelled byProvider { provider total } }
  }
`;

describe.each(kinds)('retryTask, node(id) and operator keys on %s', (kind) => {
  let t: TestApp;
  const db = () => t.app.services.database.db;
  const create = async (input: Record<string, unknown>, key = ALICE) => {
    const res = (await t.gql(CREATE, { input }, key)).data!.createVideoTask;
    expect(res.__typename, JSON.stringify(res)).toBe('CreateVideoTaskSuccess');
    return res.task;
  };
  const retry = async (id: string, key = ALICE) => {
    const res = await t.gql(RETRY, { id }, key);
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    return res.data!.retryTask;
  };

  beforeAll(async () => {
    t = await startTestApp({
      db: kind,
      env: { REELAY_API_KEYS: `alice:${ALICE},bob:${BOB}`, REELAY_ADMIN_KEYS: `ops:${OPS}` },
      configure: (c) => (c.role = 'api'),
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('retryTask: a FAILED or CANCELLED task gets a new task with the same input and stored image, naming the old one in retryOf', async () => {
    const input = { prompt: 'retry me', durationSeconds: 3, aspectRatio: '16:9', seed: 7, image: { base64: TINY_PNG.toString('base64') } };
    const original = await create(input);
    await failTask(db(), original.id, 'UPSTREAM_FAILED', 'nope');
    const client = wsClient(t.wsUrl, ALICE);
    // The retry is announced like any create (a subscriber of the owner's changes sees it QUEUED).
    const sub = subscribe(client, 'subscription { tasksUpdated { id status } }', {}, (d) => d.tasksUpdated);
    try {
      // Wait until the subscription is live: a probe task shows up on it.
      const probes: string[] = [];
      await expect
        .poll(async () => {
          if (sub.values.some((v) => probes.includes(v.id))) return true;
          probes.push((await create({ prompt: 'probe' })).id);
          return sub.values.some((v) => probes.includes(v.id));
        })
        .toBe(true);
      const statsBefore = (await t.gql(STATS, {}, ALICE)).data.stats;
      const res = await retry(original.id);
      expect(res.__typename, JSON.stringify(res)).toBe('RetryTaskSuccess');
      const again = res.task;
      expect(again.id).not.toBe(original.id);
      expect(again).toMatchObject({ status: 'QUEUED', prompt: 'retry me', provider: original.provider, model: original.model, params: original.params, retryOf: { id: original.id, status: 'FAILED' } });
      expect(again.params).toEqual({ durationSeconds: 3, aspectRatio: '16:9', seed: 7 });
      // The image is stored again for the new task (deleting the old task keeps it).
      expect(again.inputImage.url).not.toBe(original.inputImage.url);
      expect(again.inputImage.url).toContain(again.id);
      const bytes = Buffer.from(await (await fetch(again.inputImage.url)).arrayBuffer());
      expect(bytes.equals(TINY_PNG)).toBe(true);
      await sub.waitFor((v) => v.id === again.id && v.status === 'QUEUED');
      // Counted like any create.
      const statsAfter = (await t.gql(STATS, {}, ALICE)).data.stats;
      expect(statsAfter.total).toBe(statsBefore.total + 1);
      expect(statsAfter.queued).toBe(statsBefore.queued + 1);

      // A cancelled task can be retried too; a retry of a retry points at its own original.
      await cancelTaskRow(db(), again.id);
      const third = await retry(again.id);
      expect(third.task.retryOf).toEqual({ id: again.id, status: 'CANCELLED' });
      // Deleting the original leaves the retry, whose retryOf is then null.
      expect((await t.gql('mutation($id: ID!) { deleteTask(id: $id) { __typename } }', { id: original.id }, ALICE)).data.deleteTask.__typename).toBe('DeleteTaskSuccess');
      const after = await t.gql('query($id: ID!) { task(id: $id) { retryOf { id } inputImage { url } } }', { id: again.id }, ALICE);
      expect(after.data.task.retryOf).toBeNull();
      expect((await fetch(after.data.task.inputImage.url)).status).toBe(200);
    } finally {
      sub.dispose();
      await client.dispose();
    }
  });

  it('retryTask: other states are TASK_NOT_RETRYABLE, another key\'s or a malformed id NOT_FOUND, all as data', async () => {
    const queued = await create({ prompt: 'still queued' });
    expect(await retry(queued.id)).toMatchObject({ __typename: 'InvalidStateError', code: 'TASK_NOT_RETRYABLE' });
    await db().execute(sql`update tasks set status = 'PROCESSING', started_at = now() where id = ${queued.id}::uuid`);
    expect(await retry(queued.id)).toMatchObject({ __typename: 'InvalidStateError', code: 'TASK_NOT_RETRYABLE' });
    await transition(db(), queued.id, { status: 'COMPLETED', completedAt: sql`now()` }, { event: { message: 'done' } });
    const completed = await retry(queued.id);
    expect(completed).toMatchObject({ __typename: 'InvalidStateError', code: 'TASK_NOT_RETRYABLE' });
    expect(completed.message).toMatch(/COMPLETED/);

    const failed = await create({ prompt: 'alice failed' });
    await failTask(db(), failed.id, 'UPSTREAM_FAILED', 'nope');
    expect(await retry(failed.id, BOB)).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    // An operator key reads every owner's tasks but never acts as another key.
    expect(await retry(failed.id, OPS)).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await retry('not-a-uuid')).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await retry('00000000-0000-4000-8000-000000000000')).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });

  it('retryTask goes through the create limits of the key', async () => {
    const key = await createApiKey(db(), `limited-${kind}`, { maxActive: 1, perMinute: 0 });
    const first = await create({ prompt: 'one active' }, key);
    await failTask(db(), first.id, 'UPSTREAM_FAILED', 'nope');
    const busy = await create({ prompt: 'the active one' }, key);
    const refused = await retry(first.id, key);
    expect(refused).toMatchObject({ __typename: 'RateLimitedError', code: 'TOO_MANY_ACTIVE_TASKS', retryAfterSeconds: null });
    await cancelTaskRow(db(), busy.id);
    expect((await retry(first.id, key)).__typename).toBe('RetryTaskSuccess');
  });

  it('node(id): a VideoTask by its UUID; null for another key\'s task and for malformed ids, without errors', async () => {
    const mine = await create({ prompt: 'a node' });
    const res = await t.gql(NODE, { id: mine.id }, ALICE);
    expect(res.errors).toBeUndefined();
    expect(res.data.node).toEqual({ __typename: 'VideoTask', id: mine.id, prompt: 'a node', status: 'QUEUED' });
    for (const [id, key] of [[mine.id, BOB], ['garbage', ALICE], [Buffer.from(`VideoTask:${mine.id}`).toString('base64'), ALICE], ['00000000-0000-4000-8000-000000000000', ALICE]] as const) {
      const other = await t.gql(NODE, { id }, key);
      expect(other.errors, `${id}: ${JSON.stringify(other.errors)}`).toBeUndefined();
      expect(other.data.node).toBeNull();
    }
    // The schema says so: VideoTask implements Node.
    const types = await t.gql('{ __type(name: "Node") { kind possibleTypes { name } } }', {}, ALICE);
    expect(types.data.__type).toEqual({ kind: 'INTERFACE', possibleTypes: [{ name: 'VideoTask' }] });
  });

  it('operator keys: tasks and stats span every owner (owner argument and field), counted from the counters; others see only their own', async () => {
    const a = await create({ prompt: 'ops sees alice' }, ALICE);
    const b = await create({ prompt: 'ops sees bob' }, BOB);
    await failTask(db(), b.id, 'UPSTREAM_FAILED', 'nope');

    const all = (await t.gql(LIST, {}, OPS)).data.tasks;
    const byId = new Map(all.nodes.map((n: any) => [n.id, n]));
    expect(byId.get(a.id)).toMatchObject({ owner: 'alice' });
    expect(byId.get(b.id)).toMatchObject({ owner: 'bob' });
    const onlyBob = (await t.gql(LIST, { owner: 'bob' }, OPS)).data.tasks;
    expect(onlyBob.nodes.every((n: any) => n.owner === 'bob')).toBe(true);
    expect(onlyBob.nodes.map((n: any) => n.id)).toContain(b.id);
    expect(onlyBob.totalCount).toBe(onlyBob.nodes.length);

    // Stats: the sum over owners equals the owners' own stats; read from the counters only.
    const [aliceStats, bobStats] = await Promise.all([t.gql(STATS, {}, ALICE), t.gql(STATS, {}, BOB)]);
    const queriesBefore = t.queries.length;
    const opsStats = (await t.gql(STATS, {}, OPS)).data.stats;
    const statsSql = t.queries.slice(queriesBefore).join('\n');
    expect(statsSql).toMatch(/task_counts/);
    expect(statsSql).not.toMatch(/from "tasks"/);
    // Stored keys of the other tests own tasks too.
    expect(opsStats.total).toBeGreaterThanOrEqual(aliceStats.data.stats.total + bobStats.data.stats.total);
    expect((await t.gql(STATS, { owner: 'bob' }, OPS)).data.stats).toEqual(bobStats.data.stats);
    expect(all.totalCount).toBe(opsStats.total);

    // The operator key reads any task by id, but cannot cancel or delete another owner's.
    expect((await t.gql('query($id: ID!) { task(id: $id) { owner } }', { id: a.id }, OPS)).data.task).toEqual({ owner: 'alice' });
    expect((await t.gql(NODE, { id: a.id }, OPS)).data.node.id).toBe(a.id);
    const cancel = await t.gql('mutation($id: ID!) { cancelTask(id: $id) { __typename ... on Error { code } } }', { id: a.id }, OPS);
    expect(cancel.data.cancelTask).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const del = await t.gql('mutation($id: ID!) { deleteTask(id: $id) { __typename ... on Error { code } } }', { id: b.id }, OPS);
    expect(del.data.deleteTask).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    // Tasks an operator key creates are its own.
    expect((await create({ prompt: 'by ops' }, OPS)).owner).toBe('ops');

    // Any other key: its own tasks only, `owner` null, another owner's name selects nothing.
    const alices = (await t.gql(LIST, {}, ALICE)).data.tasks;
    expect(alices.nodes.every((n: any) => n.owner === null)).toBe(true);
    expect(alices.nodes.map((n: any) => n.id)).not.toContain(b.id);
    expect((await t.gql(LIST, { owner: 'alice' }, ALICE)).data.tasks.totalCount).toBe(alices.totalCount);
    expect((await t.gql(LIST, { owner: 'bob' }, ALICE)).data.tasks).toEqual({ totalCount: 0, nodes: [] });
    expect((await t.gql(STATS, { owner: 'bob' }, ALICE)).data.stats).toMatchObject({ total: 0, byProvider: [] });
    expect((await t.gql('query($id: ID!) { task(id: $id) { id } }', { id: b.id }, ALICE)).data.task).toBeNull();
  });

  it('a stored operator key (create --admin) reads like REELAY_ADMIN_KEYS', async () => {
    const ops2 = await createApiKey(db(), `ops-${kind}`, { admin: true });
    const b = await create({ prompt: 'seen by a stored operator key' }, BOB);
    const list = (await t.gql(LIST, { owner: 'bob' }, ops2)).data.tasks;
    expect(list.nodes.find((n: any) => n.id === b.id)).toMatchObject({ owner: 'bob' });
    const plain = await createApiKey(db(), `plain-${kind}`);
    expect((await t.gql(LIST, { owner: 'bob' }, plain)).data.tasks.totalCount).toBe(0);
  });

  it('rotation: several working keys per name, the old one until revoked; expired keys are refused like unknown ones', async () => {
    const name = `rot-${kind}`;
    const old = await createApiKey(db(), name, { maxActive: 7 });
    await expect(createApiKey(db(), name)).rejects.toThrow(/an active key named .* exists/);
    const fresh = await rotateApiKey(db(), name);
    const whoami = async (key: string) => t.gql('{ tasks(first: 1) { totalCount } }', {}, key);
    const mine = await create({ prompt: 'made with the old key' }, old);
    // Both keys are the same owner: the new one sees the task made with the old one.
    expect((await t.gql('query($id: ID!) { task(id: $id) { id } }', { id: mine.id }, fresh.key)).data.task).toEqual({ id: mine.id });
    expect((await whoami(old)).status).toBe(200);
    // The end of the rotation: the old key stops, the new one keeps working (within the ≤ 1 s key cache).
    expect(await revokeApiKeys(db(), name, { old: true })).toBe(1);
    await expect.poll(async () => (await whoami(old)).status, { timeout: 3000, interval: 100 }).toBe(401);
    expect((await whoami(fresh.key)).status).toBe(200);
    // The new key took the old one's own limits.
    expect((await listApiKeys(db())).find((k) => k.id === fresh.id)).toMatchObject({ name, maxActiveTasks: 7, revokedAt: null });

    // Expiry: a key with a lifetime works until then, then gets HTTP 401 like an unknown key.
    const short = await createApiKeyWithId(db(), `short-${kind}`, { expiresInMs: 1500 });
    expect(short.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    expect((await whoami(short.key)).status).toBe(200);
    await expect.poll(async () => (await whoami(short.key)).status, { timeout: 5000, interval: 100 }).toBe(401);
    const refused = await whoami(short.key);
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // A rotation takes the lifetime of the key it rotates.
    const long = await createApiKeyWithId(db(), `long-${kind}`, { expiresInMs: 90 * 86_400_000 });
    const next = await rotateApiKey(db(), `long-${kind}`);
    expect(Math.abs(next.expiresAt!.getTime() - long.expiresAt!.getTime())).toBeLessThan(60_000);
  });

  it('npm run keys: rotate prints the new key, create takes --expires and --admin, revoke --id and --old, list shows them', async () => {
    const run = (...argv: string[]) => runKeysCommand(db(), parseKeysArgs(argv));
    const name = `cli-${kind}`;
    const created = await run('create', name, '--expires', '90d', '--admin');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created operator key ".*" \(id \d+, expires \d{4}-/);
    const first = /\n(rly_[A-Za-z0-9_-]+)\n/.exec(created.stdout)![1]!;
    const rotated = await run('rotate', name);
    expect(rotated.code).toBe(0);
    const second = /\n(rly_[A-Za-z0-9_-]+)\n/.exec(rotated.stdout)![1]!;
    expect(second).not.toBe(first);
    expect(rotated.stderr).toMatch(/keep working until revoked/);
    const listed = (await run('list')).stdout.split('\n').filter((l) => l.startsWith(`${name}\t`));
    expect(listed).toHaveLength(2);
    expect(listed.every((l) => /\(id \d+, operator\)/.test(l) && /\tactive, expires /.test(l))).toBe(true);
    // Both work (and both are operator keys) until one is revoked by id.
    for (const k of [first, second]) expect((await t.gql('{ tasks(first: 1) { nodes { owner } } }', {}, k)).status).toBe(200);
    const firstId = Number(/id (\d+)/.exec(created.stdout)![1]);
    expect(await run('revoke', name, '--id', String(firstId))).toMatchObject({ code: 0, stdout: expect.stringMatching(/revoked key/) });
    expect(await run('revoke', name, '--id', String(firstId))).toMatchObject({ code: 1 });
    expect(await run('revoke', name, '--old')).toMatchObject({ code: 1 }); // only the newest is left
    await expect.poll(async () => (await t.gql('{ stats { total } }', {}, first)).status, { timeout: 3000, interval: 100 }).toBe(401);
    expect((await t.gql('{ stats { total } }', {}, second)).status).toBe(200);
    expect(() => parseKeysArgs(['create', 'x', '--expires', 'soon'])).toThrow(/--expires takes/);
    expect(() => parseKeysArgs(['revoke', 'x', '--id', '1', '--old'])).toThrow(/either --id or --old/);
    expect((await run('rotate', `nobody-${kind}`)).stderr).toMatch(/no active key named/);
  });
});
