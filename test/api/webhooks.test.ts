// Webhooks through the real server (API + runner + deliverer) in front of the
// tasks-api emulator, on PGlite and Postgres: Standard Webhooks signatures as a
// receiver verifies them, retries, SSRF refusals at creation and at delivery,
// event filtering, PROGRESS coalescing, keys' default endpoints and secrets.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/db/api-keys.js';
import { createTask } from '../../src/db/create-task.js';
import { parseKeysArgs, runKeysCommand } from '../../src/keys/commands.js';
import { transition } from '../../src/runner/transitions.js';
import { startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';
import { providerEntry } from '../e2e/helpers.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { until } from '../support/wait.js';

const kinds = await databaseKinds();
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const ENV_KEY = 'env-key-1234567890';

interface Hit {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
  json: { type: string; timestamp: string; data: Record<string, any> };
}

/** A webhook receiver on 127.0.0.1: records every request; answers the next planned status (-1: resets the connection, 0: never answers), else 200. */
class Receiver {
  readonly hits: Hit[] = [];
  /** Statuses to answer, per path, in order. */
  readonly plan = new Map<string, number[]>();
  private server!: http.Server;

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
        this.hits.push({ path: req.url ?? '/', headers, body, at: Date.now(), json: JSON.parse(body) as Hit['json'] });
        const status = this.plan.get(req.url ?? '/')?.shift() ?? 200;
        if (status === -1) return req.socket.destroy(); // a network error
        if (status === 0) return void setTimeout(() => req.socket.destroy(), 3_000).unref(); // no answer in time
        res.writeHead(status, status >= 300 && status < 400 ? { location: '/elsewhere' } : {}).end('ok');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): Array<Hit> {
    return this.hits.filter((h) => h.path === path);
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id status } }
      ... on Error { code message }
      ... on ValidationError { field }
    }
  }
`;

/** The fields the body's `data` carries, as the API shows them. */
const VIEW = /* GraphQL */ `
  id status progress prompt negativePrompt provider model providerTaskId upstreamStatus mediaType params
  inputImage { url contentType }
  result { url thumbnailUrl fileExpired upstreamUrl contentType sizeBytes durationSeconds width height }
  error { code message }
  attempts createdAt updatedAt startedAt completedAt retryOf { id } cost { amount currency }
`;
const READ = /* GraphQL */ `query Read($id: ID!) { task(id: $id) { ${VIEW} webhookDeliveries { id event url attempts lastStatus lastError deliveredAt nextAttemptAt } } }`;


describe.each(kinds)('webhooks on %s', (kind) => {
  let emu: TasksApiEmulator;
  let t: TestApp;
  let rx: Receiver;
  let aliceKey: string;

  const create = async (input: Record<string, unknown>, key = ENV_KEY) => {
    const res = await t.gql(CREATE, { input: { provider: 'tasks', ...input } }, key);
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    return res.data.createVideoTask;
  };
  const createOk = async (input: Record<string, unknown>, key = ENV_KEY): Promise<string> => {
    const out = await create(input, key);
    expect(out.__typename, JSON.stringify(out)).toBe('CreateVideoTaskSuccess');
    return out.task.id as string;
  };
  const read = async (id: string, key = ENV_KEY) => (await t.gql(READ, { id }, key)).data.task;
  const delivered = (id: string, n = 1, key = ENV_KEY) =>
    until(
      () => read(id, key),
      (task) => task.webhookDeliveries.length >= n && task.webhookDeliveries.every((d: { deliveredAt: string | null }) => d.deliveredAt),
    );

  beforeAll(async () => {
    rx = await new Receiver().start();
    emu = await startTasksApiEmulator({ processingAfterMs: 100, completeAfterMs: 300 });
    t = await startTestApp({
      db: kind,
      providers: [providerEntry('tasks', 'tasks-api', emu.baseUrl)],
      defaultProvider: 'tasks',
      env: {
        REELAY_API_KEYS: `envuser:${ENV_KEY}`,
        REELAY_WEBHOOK_SECRET: SECRET,
        REELAY_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
        REELAY_WEBHOOK_RETRY_BASE_MS: '100',
        REELAY_WEBHOOK_RETRY_MAX_MS: '300',
        REELAY_WEBHOOK_POLL_MS: '50',
        REELAY_WEBHOOK_TIMEOUT_MS: '1000',
      },
    });
    aliceKey = await createApiKey(t.app.services.database.db, 'alice');
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
    await rx?.close();
  });

  it('delivers the terminal event by default, signed (verified with standardwebhooks), its data the task as the API shows it', async () => {
    const url = rx.url('/default');
    const id = await createOk({ prompt: 'a webhook', webhook: { url } });
    const task = await delivered(id);
    expect(task.status).toBe('COMPLETED');
    const hits = rx.at('/default');
    expect(hits).toHaveLength(1); // STARTED and PROGRESS are not asked for by default
    const hit = hits[0]!;
    const payload = new Webhook(SECRET).verify(hit.body, hit.headers) as Hit['json'];
    expect(payload.type).toBe('task.completed');
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(hit.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
    expect(new Date(payload.timestamp).toISOString()).toBe(payload.timestamp);
    const { webhookDeliveries, ...view } = task;
    expect(payload.data).toEqual(view);
    expect(payload.data.result.url).toBe(`${t.url}/files/${payload.data.result.url.split('/files/')[1]}`);
    expect(payload.data.result.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\/.+/);
    // A wrong secret does not verify.
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(hit.body, hit.headers)).toThrow();
    expect(webhookDeliveries).toEqual([
      { id: hit.headers['webhook-id'], event: 'COMPLETED', url, attempts: 1, lastStatus: 200, lastError: null, deliveredAt: expect.any(String), nextAttemptAt: null },
    ]);
  });

  it('sends only the events asked for: STARTED and FAILED of a failing task', async () => {
    const id = await createOk({ prompt: 'breaks [fail]', webhook: { url: rx.url('/filter'), events: ['STARTED', 'FAILED'] } });
    const task = await delivered(id, 2);
    expect(task.status).toBe('FAILED');
    // Deliveries may arrive in any order (each is sent on its own): sorted by type.
    const byType = (hs: Hit[]) => [...hs].sort((a, b) => b.json.type.localeCompare(a.json.type));
    const hits = byType(rx.at('/filter'));
    expect(hits.map((h) => h.json.type)).toEqual(['task.started', 'task.failed']);
    for (const h of hits) new Webhook(SECRET).verify(h.body, h.headers);
    expect(hits[0]!.json.data.status).toBe('PROCESSING');
    expect(hits[1]!.json.data).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_FAILED' } });
    expect(new Set(hits.map((h) => h.headers['webhook-id'])).size).toBe(2);
    expect(task.webhookDeliveries.map((d: { event: string }) => d.event)).toEqual(['STARTED', 'FAILED']);

    // retryTask keeps the webhook (url and events).
    const retried = await t.gql(`mutation($id: ID!) { retryTask(id: $id) { __typename ... on RetryTaskSuccess { task { id } } } }`, { id }, ENV_KEY);
    const retryId = retried.data.retryTask.task.id;
    const again = await delivered(retryId, 2);
    expect(again.webhookDeliveries.map((d: { event: string; url: string }) => [d.event, d.url])).toEqual([['STARTED', rx.url('/filter')], ['FAILED', rx.url('/filter')]]);
    expect(byType(rx.at('/filter').slice(2)).map((h) => [h.json.type, h.json.data.id, h.json.data.retryOf])).toEqual([
      ['task.started', retryId, { id }],
      ['task.failed', retryId, { id }],
    ]);
  });

  it('retries a receiver that fails first (500, a reset connection, no answer in time, a redirect) with the same webhook-id until it answers 2xx', async () => {
    rx.plan.set('/flaky', [500, -1, 0, 302]);
    const id = await createOk({ prompt: 'flaky receiver', webhook: { url: rx.url('/flaky') } });
    // Between attempts the failure is visible.
    const failing = await until(() => read(id), (task) => task.webhookDeliveries[0]?.attempts >= 1 && task.webhookDeliveries[0]?.lastStatus === 500);
    expect(failing.webhookDeliveries[0]).toMatchObject({ deliveredAt: null, lastError: expect.stringMatching(/HTTP 500/), nextAttemptAt: expect.any(String) });
    const task = await delivered(id);
    const hits = rx.at('/flaky');
    expect(hits).toHaveLength(5);
    expect(new Set(hits.map((h) => h.headers['webhook-id'])).size).toBe(1);
    for (const h of hits) expect(new Webhook(SECRET).verify(h.body, h.headers)).toMatchObject({ type: 'task.completed' });
    expect(rx.at('/elsewhere')).toHaveLength(0); // the redirect was not followed
    expect(task.webhookDeliveries[0]).toMatchObject({ attempts: 5, lastStatus: 200, lastError: null, nextAttemptAt: null });
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/reelay_webhook_deliveries_total\{outcome="delivered"\} [1-9]/);
    expect(metrics).toMatch(/reelay_webhook_deliveries_total\{outcome="failed"\} [1-9]/);
  });

  it('refuses a private, local or metadata webhook URL at creation (ValidationError on webhook.url)', async () => {
    for (const url of ['http://10.0.0.7/hook', 'http://[::1]:8080/hook', 'http://169.254.169.254/latest', 'http://metadata.google.internal/x', 'ftp://example.com/x', 'not a url', 'http://user:pw@example.com/x']) {
      expect(await create({ prompt: 'x', webhook: { url } }), url).toMatchObject({ __typename: 'ValidationError', field: 'webhook.url' });
    }
    expect(await create({ prompt: 'x', webhook: { url: 'https://example.com/x', events: [] } })).toMatchObject({ __typename: 'ValidationError', field: 'webhook.events' });
  });

  it("a stored key's default endpoint and its own secret (keys webhook, keys webhook-secret, --rotate)", async () => {
    const db = t.app.services.database.db;
    const keys = (...argv: string[]) => runKeysCommand(db, parseKeysArgs(argv));
    expect(await keys('webhook', 'alice', rx.url('/alice'))).toMatchObject({ code: 0 });
    const shown = await keys('webhook-secret', 'alice');
    expect(shown.code).toBe(0);
    const secret = shown.stdout.trim();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect((await keys('webhook-secret', 'alice')).stdout.trim()).toBe(secret); // shown again, unchanged
    expect(await keys('webhook-secret', 'nobody')).toMatchObject({ code: 1, stderr: expect.stringMatching(/no active key named "nobody"/) });
    expect(() => parseKeysArgs(['webhook', 'alice', 'ftp://x'])).toThrow(/http or https/);

    // alice's key was never used: no remembered lookup stands between it and the new default.
    const id1 = await createOk({ prompt: 'default endpoint' }, aliceKey);
    await delivered(id1, 1, aliceKey);
    const hit = rx.at('/alice').at(-1)!;
    expect(new Webhook(secret).verify(hit.body, hit.headers)).toMatchObject({ type: 'task.completed' });
    expect(() => new Webhook(SECRET).verify(hit.body, hit.headers)).toThrow(); // not the environment's secret

    const rotated = await keys('webhook-secret', 'alice', '--rotate');
    const next = rotated.stdout.trim();
    expect(next).not.toBe(secret);
    const before = rx.at('/alice').length;
    const id2 = await createOk({ prompt: 'after rotation' }, aliceKey);
    await delivered(id2, 1, aliceKey);
    const hit2 = rx.at('/alice')[before]!;
    expect(new Webhook(next).verify(hit2.body, hit2.headers)).toMatchObject({ type: 'task.completed' });
    expect(() => new Webhook(secret).verify(hit2.body, hit2.headers)).toThrow();

    // A task's own webhook wins over the default; --clear removes the default.
    expect(await keys('webhook', 'alice', '--clear')).toMatchObject({ code: 0 });
    // A new key of the name (never looked up, so nothing remembered) sees the change at once.
    const newKey = /\n(rly_\S+)\n/.exec((await keys('rotate', 'alice')).stdout)![1]!;
    const id3 = await createOk({ prompt: 'no default any more' }, newKey);
    await until(() => read(id3, newKey), (task) => task.status === 'COMPLETED');
    expect((await read(id3, newKey)).webhookDeliveries).toEqual([]);
    // Secrets never show in the API.
    expect(JSON.stringify(await read(id2, aliceKey))).not.toContain(next.slice(6));
  });

  it('coalesces PROGRESS: at most one per task per 5 s, carrying the latest progress', async () => {
    const db = t.app.services.database.db;
    // A task of a provider this server does not run, moved by hand: only the trigger and the deliverer act on it.
    const { task } = await createTask(db, {
      owner: 'envuser',
      providerId: 'ghost',
      prompt: 'progress',
      params: {},
      webhookUrl: rx.url('/progress'),
      webhookEvents: ['STARTED', 'PROGRESS'],
      requestOrigin: t.url,
    });
    await transition(db, task.id, { status: 'PROCESSING', startedAt: new Date() }, { from: ['QUEUED'] });
    const burstStart = Date.now();
    for (const p of [0.1, 0.2, 0.3, 0.4, 0.5]) {
      await transition(db, task.id, { progress: p }, { from: ['PROCESSING'] });
      await new Promise((r) => setTimeout(r, 100));
    }
    const burstMs = Date.now() - burstStart;
    // The last progress arrives (at most 5 s after the previous PROGRESS), and nothing is left to send.
    const progressHits = () => rx.at('/progress').filter((h) => h.json.type === 'task.progress');
    await until(progressHits, (hs) => hs.at(-1)?.json.data.progress === 0.5, 12_000);
    const settled = await until(() => read(task.id), (t) => t.webhookDeliveries.every((d: { deliveredAt: string | null }) => d.deliveredAt));
    const hits = rx.at('/progress');
    const progress = progressHits();
    expect(hits.filter((h) => h.json.type === 'task.started')).toHaveLength(1);
    // Five changes in about half a second: one or two deliveries (the first may already carry later
    // values), at least 5 s apart, the last with the latest.
    expect(progress.length).toBeGreaterThanOrEqual(1);
    if (burstMs < 5_000) expect(progress.length).toBeLessThanOrEqual(2);
    expect(progress.map((h) => h.json.data.progress)).toEqual([...progress.map((h) => h.json.data.progress)].sort());
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.at - progress[i - 1]!.at).toBeGreaterThanOrEqual(4_500);
    expect(hits).toHaveLength(settled.webhookDeliveries.length);
    for (const h of hits) new Webhook(SECRET).verify(h.body, h.headers);
    // A final state drops a pending PROGRESS (CANCELLED is not asked for: nothing more is sent).
    await transition(db, task.id, { progress: 0.6 }, { from: ['PROCESSING'] });
    await transition(db, task.id, { status: 'CANCELLED', completedAt: new Date() }, { from: ['PROCESSING'] });
    const shown = await read(task.id);
    expect(shown.webhookDeliveries.map((d: { event: string }) => d.event)).toEqual(settled.webhookDeliveries.map((d: { event: string }) => d.event));
  });
});

describe('webhooks without REELAY_WEBHOOK_ALLOW_HOSTS or REELAY_WEBHOOK_SECRET', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses the literal loopback address at creation; keyless webhooks need REELAY_WEBHOOK_SECRET', async () => {
    const literal = await t.gql(CREATE, { input: { prompt: 'x', webhook: { url: 'http://127.0.0.1:9/x' } } });
    expect(literal.data.createVideoTask).toMatchObject({ __typename: 'ValidationError', field: 'webhook.url', message: expect.stringMatching(/REELAY_WEBHOOK_ALLOW_HOSTS/) });

    // Keyless mode without REELAY_WEBHOOK_SECRET: nothing could sign it.
    const unsigned = await t.gql(CREATE, { input: { prompt: 'x', webhook: { url: 'http://localhost:9/named' } } });
    expect(unsigned.data.createVideoTask).toMatchObject({ __typename: 'ValidationError', field: 'webhook', code: 'WEBHOOK_SECRET_MISSING' });
  });
});

describe('webhooks: a host name that resolves to a private address', () => {
  let emu: TasksApiEmulator;
  let t: TestApp;
  let rx: Receiver;

  beforeAll(async () => {
    rx = await new Receiver().start();
    emu = await startTasksApiEmulator({ processingAfterMs: 50, completeAfterMs: 150 });
    t = await startTestApp({
      providers: [providerEntry('tasks', 'tasks-api', emu.baseUrl)],
      defaultProvider: 'tasks',
      env: {
        REELAY_WEBHOOK_SECRET: SECRET,
        REELAY_WEBHOOK_RETRY_BASE_MS: '100',
        REELAY_WEBHOOK_RETRY_MAX_MS: '200',
        REELAY_WEBHOOK_GIVE_UP_MS: '1500',
        REELAY_WEBHOOK_POLL_MS: '50',
      },
    });
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
    await rx?.close();
  });

  it('is refused at every delivery (recorded in lastError, the receiver never called) and given up after the deadline', async () => {
    const url = `http://localhost:${rx.port}/named`;
    const created = await t.gql(CREATE, { input: { prompt: 'x', webhook: { url } } });
    expect(created.data.createVideoTask.__typename).toBe('CreateVideoTaskSuccess');
    const id = created.data.createVideoTask.task.id;
    const task = await until(
      async () => (await t.gql(READ, { id })).data.task,
      (task) => task.webhookDeliveries.length === 1 && task.webhookDeliveries[0].attempts >= 1 && task.webhookDeliveries[0].nextAttemptAt === null,
    );
    expect(task.webhookDeliveries[0]).toMatchObject({ event: 'COMPLETED', url, lastStatus: null, deliveredAt: null, lastError: expect.stringMatching(/private or local address/) });
    expect(rx.hits).toHaveLength(0);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/reelay_webhook_deliveries_total\{outcome="gave_up"\} [1-9]/);
  });
});
