// How a result download ends a task, on PGlite and Postgres: a refused URL, an
// oversized or fake result fails at once with its own code (no retries); only
// transient trouble is tried again; the refused URL reaches the owner, not the log.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { HealthMonitor } from '../../src/providers/health.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import type { ProviderConfig, Snapshot } from '../../src/providers/types.js';
import { Runner } from '../../src/runner/runner.js';
import { fakeMp4, SAMPLE_VIDEO } from '../emulators/media.js';
import { FakeProvider, fakeConfig } from '../support/fake-provider.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

const kinds = await databaseKinds();
const VIDEO = fakeMp4('download');

let server: http.Server;
let base: string;
const hits: string[] = [];
let busyLeft = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    if (p === '/video.mp4') return void res.writeHead(200, { 'content-type': 'video/mp4' }).end(VIDEO);
    if (p === '/busy.mp4') {
      if (busyLeft-- > 0) return void res.writeHead(503).end();
      return void res.writeHead(200, { 'content-type': 'video/mp4' }).end(VIDEO);
    }
    if (p === '/page') return void res.writeHead(200, { 'content-type': 'video/mp4' }).end('<html>not a video</html>');
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe.each(kinds)('result downloads on %s', (kind) => {
  let store: TestStore;
  let dir: string;
  let logged: string;
  const runners: Runner[] = [];

  // One database for the file (every task ends before the next test starts), a runner per test.
  beforeAll(async () => {
    store = await openTestStore(kind);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-download-'));
  });
  afterAll(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    hits.length = 0;
    logged = '';
  });
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop(2000)));
  });

  function run(result: Snapshot, over: Partial<ProviderConfig> = {}, opts: { maxResultBytes?: number } = {}) {
    const p = new FakeProvider();
    p.pollScript = [result];
    const registry = ProviderRegistry.of([{ config: fakeConfig(p.id, over), provider: p }]);
    const log = createLogger('trace', new Writable({ write: (chunk, _enc, cb) => ((logged += String(chunk)), cb()) }));
    const health = new HealthMonitor(registry, store.database.db, log);
    const runner = new Runner({ db: store.database.db, events: store.events, registry, health, filesDir: dir, log, leaseMs: 5000, concurrency: 4, maxAttempts: 3, idleMs: 100, ...opts });
    runner.start();
    runners.push(runner);
  }
  const urlResult = (url: string): Snapshot => ({ state: 'completed', result: { source: { kind: 'url', url }, mediaType: 'VIDEO', width: 1920, height: 1080, durationSeconds: 8 } });
  const finished = (id: string) => store.waitFor(id, (t) => t.status === 'COMPLETED' || t.status === 'FAILED');

  it('fails a result URL on a private address with RESULT_URL_FORBIDDEN, showing the URL to the owner but not the log', async () => {
    const url = `${base}/video.mp4?signature=only-for-the-owner`;
    run(urlResult(url), { baseUrl: 'https://upstream.example.com' });
    const task = await store.addTask();
    const done = await finished(task.id);
    expect(done).toMatchObject({ status: 'FAILED', errorCode: 'RESULT_URL_FORBIDDEN', result: null });
    expect(done.errorMessage).toContain(url);
    expect(hits).toEqual([]); // refused before connecting, and not retried
    expect(logged).not.toContain('only-for-the-owner');
  });

  it("downloads from the provider's own origin, taking the size and duration from ffprobe", async () => {
    run(urlResult(`${base}/video.mp4`), { baseUrl: `${base}/api` });
    const task = await store.addTask();
    const done = await finished(task.id);
    expect(done).toMatchObject({ status: 'COMPLETED', result: { upstreamUrl: `${base}/video.mp4`, contentType: 'video/mp4', width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height } });
    expect(done.result!.durationSeconds).toBeCloseTo(SAMPLE_VIDEO.durationSeconds, 1);
  });

  it('fails a result that is not media with INVALID_RESULT, downloading it once', async () => {
    run(urlResult(`${base}/page`), { allowHosts: ['127.0.0.1'] });
    const task = await store.addTask();
    expect(await finished(task.id)).toMatchObject({ status: 'FAILED', errorCode: 'INVALID_RESULT' });
    expect(hits).toEqual(['/page']);
  });

  it('fails an oversized result with RESULT_TOO_LARGE (REELAY_MAX_RESULT_BYTES), downloading it once', async () => {
    run(urlResult(`${base}/video.mp4`), { allowHosts: ['127.0.0.1'] }, { maxResultBytes: 1024 });
    const task = await store.addTask();
    expect(await finished(task.id)).toMatchObject({ status: 'FAILED', errorCode: 'RESULT_TOO_LARGE' });
    expect(hits).toEqual(['/video.mp4']);
  });

  it('tries transient download trouble again', async () => {
    busyLeft = 1;
    run(urlResult(`${base}/busy.mp4`), { allowHosts: ['127.0.0.1'] });
    const task = await store.addTask();
    expect(await finished(task.id)).toMatchObject({ status: 'COMPLETED' });
    expect(hits).toEqual(['/busy.mp4', '/busy.mp4']);
  });
});
