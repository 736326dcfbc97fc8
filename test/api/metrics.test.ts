// GET /metrics through the real server: the counts match the work the test
// did, the database gauges match the queue, and only loopback scrapers or
// holders of REELAY_METRICS_TOKEN may read it.
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { cancel, createOk, providerEntry, run, watchUntil } from '../e2e/helpers.js';
import { startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { count, sample, scrape } from '../support/metrics.js';
import { createTempDatabase, databaseKinds, postgresAvailable } from '../support/postgres.js';

const kinds = await databaseKinds();
const TOKEN = 'scrape-token-0123456789abcdef';

/** Scrape until `done` holds (counters move right after commit, a tick after the client may have seen it), then return that scrape. */
async function scrapeUntil(url: string, done: (text: string) => boolean, ms = 5000): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const { text } = await scrape(url);
    if (done(text) || Date.now() > until) return text;
    await new Promise((r) => setTimeout(r, 25));
  }
}

let emu: VideogenV1Emulator;
beforeAll(async () => {
  emu = await startVideogenV1Emulator({ processingAfterMs: 30, completeAfterMs: 150 });
});
afterAll(async () => {
  await emu?.close();
});

describe.each(kinds)('metrics on %s', (kind) => {
  // Counters belong to the process (all test apps of this file share one): each database gets its own provider ids.
  const vg = `vg-${kind}`;
  const slow = `slow-${kind}`;
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ db: kind, providers: [providerEntry(vg, 'videogen-v1', emu.url), providerEntry(slow, 'videogen-v1', emu.url, { maxConcurrency: 1 })], defaultProvider: vg });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('counts created and finished tasks, run times and upstream calls exactly as done', async () => {
    const before = (await scrape(t.url)).text;
    const finished = await Promise.all([...['one', 'two', 'three'].map((p) => run(t, { prompt: p })), run(t, { prompt: 'this one [fail]s' })]);
    expect(finished.map((f) => f.final.status).sort()).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'FAILED']);
    const delta = (text: string, name: string, labels: Record<string, string> = {}) => count(text, name, labels) - count(before, name, labels);
    const after = await scrapeUntil(t.url, (x) => delta(x, 'reelay_tasks_finished_total', { provider: vg, status: 'COMPLETED' }) >= 3 && delta(x, 'reelay_tasks_finished_total', { provider: vg, status: 'FAILED' }) >= 1);

    expect(delta(after, 'reelay_tasks_created_total', { provider: vg })).toBe(4);
    expect(delta(after, 'reelay_tasks_finished_total', { provider: vg, status: 'COMPLETED' })).toBe(3);
    expect(delta(after, 'reelay_tasks_finished_total', { provider: vg, status: 'FAILED' })).toBe(1);
    expect(delta(after, 'reelay_tasks_finished_total', { provider: vg, status: 'CANCELLED' })).toBe(0);
    expect(delta(after, 'reelay_task_duration_seconds_count', { provider: vg })).toBe(3);
    expect(delta(after, 'reelay_task_duration_seconds_bucket', { provider: vg, le: '+Inf' })).toBe(3);
    // One submission per task, each answered; at least one poll each.
    expect(delta(after, 'reelay_upstream_requests_total', { provider: vg, operation: 'submit', outcome: 'ok' })).toBe(4);
    expect(delta(after, 'reelay_upstream_request_duration_seconds_count', { provider: vg, operation: 'submit' })).toBe(4);
    expect(delta(after, 'reelay_upstream_requests_total', { provider: vg, operation: 'poll', outcome: 'ok' })).toBeGreaterThanOrEqual(4);
    expect(delta(after, 'reelay_graphql_operations_total', { operation_type: 'mutation', root_field: 'createVideoTask', outcome: 'ok' })).toBe(4);
    expect(delta(after, 'reelay_graphql_operations_total', { operation_type: 'subscription', root_field: 'taskUpdated', outcome: 'subscribed' })).toBe(4);
    expect(delta(after, 'reelay_graphql_operation_duration_seconds_count', { operation_type: 'mutation', root_field: 'createVideoTask' })).toBe(4);
    // Registered before any webhook exists, and the default process metrics.
    for (const name of ['reelay_webhook_deliveries_total', 'reelay_lease_recoveries_total', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(after, name).toContain(`# TYPE ${name} `);
    }
    expect(sample(after, 'reelay_lease_recoveries_total')).toBe(0);
  });

  it('exports the queue depth and the tasks in flight per provider from the database, and counts cancels', async () => {
    const before = (await scrape(t.url)).text;
    const ids = [await createOk(t, { prompt: 'held [never]', provider: slow })];
    const w = await watchUntil(t, ids[0]!, (v) => v.status === 'PROCESSING');
    ids.push(await createOk(t, { prompt: 'waits [never]', provider: slow }), await createOk(t, { prompt: 'waits too [never]', provider: slow }));
    const { text, headers } = await scrape(t.url);
    expect(headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(text, 'reelay_queue_depth', { provider: slow })).toBe(2);
    expect(sample(text, 'reelay_tasks_in_flight', { provider: slow })).toBe(1);
    expect(sample(text, 'reelay_queue_depth', { provider: vg })).toBe(0);
    expect(sample(text, 'reelay_tasks_in_flight', { provider: vg })).toBe(0);

    for (const id of ids) expect((await cancel(t, id)).__typename).toBe('CancelTaskSuccess');
    await w.end();
    const after = await scrapeUntil(t.url, (x) => sample(x, 'reelay_tasks_in_flight', { provider: slow }) === 0 && sample(x, 'reelay_queue_depth', { provider: slow }) === 0);
    expect(sample(after, 'reelay_queue_depth', { provider: slow })).toBe(0);
    expect(sample(after, 'reelay_tasks_in_flight', { provider: slow })).toBe(0);
    expect(count(after, 'reelay_tasks_finished_total', { provider: slow, status: 'CANCELLED' }) - count(before, 'reelay_tasks_finished_total', { provider: slow, status: 'CANCELLED' })).toBe(3);
  });
});

// An address of this machine that is not loopback: a request to it comes from a non-loopback peer, as a remote scraper's would.
const outside = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && !i.internal && i.family === 'IPv4')?.address;

describe.skipIf(!outside)('metrics access from a non-loopback address', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { HOST: outside!, REELAY_API_KEYS: 'ops:ops-key-0123456789', REELAY_METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses without a token (401), also when X-Forwarded-For claims loopback, and with a wrong one (403)', async () => {
    const bare = await scrape(t.url);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(bare.text).not.toContain('reelay_tasks');
    const spoofed = await scrape(t.url, { 'x-forwarded-for': '127.0.0.1', forwarded: 'for=127.0.0.1' });
    expect(spoofed.status).toBe(401);
    const wrong = await scrape(t.url, { authorization: `Bearer ${TOKEN}-not` });
    expect(wrong.status).toBe(403);
    // The API key is not a metrics token.
    expect((await scrape(t.url, { authorization: 'Bearer ops-key-0123456789' })).status).toBe(403);
    expect(wrong.text).not.toContain('reelay_tasks');
  });

  it('serves the metrics to the token', async () => {
    const ok = await scrape(t.url, { authorization: `Bearer ${TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('# TYPE reelay_tasks_created_total counter');
    expect(ok.text).toContain('# TYPE reelay_queue_depth gauge');
  });
});

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('a --role runner process', () => {
  let app: App;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await createTempDatabase();
    drop = db.drop;
    const dir = os.tmpdir();
    const config = loadConfig({ DATABASE_URL: db.url, HOST: '127.0.0.1', REELAY_METRICS_PORT: '0', REELAY_METRICS_TOKEN: TOKEN, LOG_LEVEL: 'silent', REELAY_DATA_DIR: `${dir}/reelay-metrics-runner-${process.pid}` }, ['--role', 'runner'], dir);
    app = await startApp(config, { log: createLogger('silent'), runnerIdleMs: 200 });
  });
  afterAll(async () => {
    await app?.stop();
    await drop?.();
  });

  it('serves GET /metrics on REELAY_METRICS_PORT: its own counters, not the database gauges', async () => {
    expect(app.http).toBeUndefined();
    const url = `http://127.0.0.1:${app.metrics!.port}`;
    const { status, text } = await scrape(url);
    expect(status).toBe(200);
    expect(text).toContain('# TYPE reelay_tasks_finished_total counter');
    expect(text).toContain('# TYPE reelay_lease_recoveries_total counter');
    expect(text).not.toContain('reelay_queue_depth');
    expect(text).not.toContain('reelay_tasks_in_flight');
    expect((await fetch(`${url}/graphql`)).status).toBe(404);
    expect((await scrape(url, { authorization: 'Bearer nope-nope-nope-nope' })).status).toBe(403);
  });
});
