// The typed client (reelay/client) against the real server with the local
// renderer: create, watch to the end, generate with progress, typed errors
// (returned as data by the API, thrown as ReelayError), auth and uploads.
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReelayClient, graphql, isAuthError, isReelayError, NETWORK_ERROR, ReelayError, type ReelayClient, type TaskFilter, type VideoTask } from '../../src/client/index.js';
import { makePng } from '../emulators/media.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { freePort } from '../support/processes.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/wait.js';

const KEY = 'client-key-1234567';

/** A watchTasks subscription's tasks, and how often it said `ready`. */
function watchList(client: ReelayClient, filter: TaskFilter | null) {
  const seen: VideoTask[] = [];
  const errors: ReelayError[] = [];
  let readies = 0;
  const stop = client.watchTasks(filter, { next: (t) => seen.push(t), ready: () => readies++, error: (e) => errors.push(e) });
  return { seen, errors, stop, readies: () => readies };
}

async function caught(p: Promise<unknown>): Promise<ReelayError> {
  try {
    await p;
  } catch (e) {
    expect(isReelayError(e)).toBe(true);
    return e as ReelayError;
  }
  throw new Error('expected a ReelayError');
}

describe('reelay/client against the real server', () => {
  let t: TestApp;
  let client: ReelayClient;
  beforeAll(async () => {
    t = await startTestApp({ env: { REELAY_API_KEYS: `alice:${KEY}` } });
    client = createReelayClient({ url: t.url, apiKey: KEY, webSocketImpl: WebSocket });
  }, 180_000);
  afterAll(async () => {
    await client?.close();
    await t?.stop();
  });

  it('creates a task, reads it and watches it to COMPLETED', async () => {
    const task = await client.createVideoTask({ prompt: 'A client test', provider: 'local', durationSeconds: 1, width: 320, height: 240, seed: 3 });
    expect(task).toMatchObject({ prompt: 'A client test', provider: 'local', params: { durationSeconds: 1, width: 320, height: 240, seed: 3 } });
    expect(['QUEUED', 'PROCESSING']).toContain(task.status);
    expect((await client.task(task.id))?.id).toBe(task.id);

    const seen: VideoTask[] = [];
    const done = await client.watch(task.id, (u) => seen.push(u));
    expect(done.status).toBe('COMPLETED');
    expect(seen.at(-1)).toEqual(done);
    expect(done.result).toMatchObject({ contentType: 'video/mp4', width: 320, height: 240 });
    const bytes = Buffer.from(await (await fetch(done.result!.url)).arrayBuffer());
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(bytes.length).toBe(done.result!.sizeBytes);

    // Watching a finished task resolves at once with it.
    expect((await client.watch(task.id)).status).toBe('COMPLETED');
  });

  it('generate: creates and follows, calling onProgress from creation to the end', async () => {
    const updates: VideoTask[] = [];
    const done = await client.generate({ prompt: 'Generated', provider: 'local', durationSeconds: 2, width: 320, height: 240 }, { onProgress: (u) => updates.push(u) });
    expect(done.status).toBe('COMPLETED');
    expect(updates.length).toBeGreaterThanOrEqual(2);
    expect(updates[0].id).toBe(done.id);
    expect(updates.at(-1)!.status).toBe('COMPLETED');
    const progress = updates.map((u) => u.progress).filter((p): p is number => typeof p === 'number');
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
  });

  it('throws the API error results as typed ReelayErrors (code, field, kind "api")', async () => {
    const unknown = await caught(client.createVideoTask({ prompt: 'x', provider: 'no-such-provider' }));
    expect(unknown).toMatchObject({ kind: 'api', type: 'ValidationError', code: 'UNKNOWN_PROVIDER', field: 'provider' });
    expect(unknown.message).toMatch(/no-such-provider/);
    expect(unknown.isNetworkError).toBe(false);

    const empty = await caught(client.createVideoTask({ prompt: '   ' }));
    expect(empty).toMatchObject({ kind: 'api', code: 'VALIDATION_ERROR', field: 'prompt' });

    const missing = await caught(client.cancelTask('00000000-0000-4000-8000-000000000000'));
    expect(missing).toMatchObject({ kind: 'api', type: 'NotFoundError', code: 'NOT_FOUND' });
    expect(await client.task('00000000-0000-4000-8000-000000000000')).toBeNull();
    await expect(client.watch('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('cancels, retries (retryOf) and refuses to cancel a finished task', async () => {
    const task = await client.createVideoTask({ prompt: 'Long one', provider: 'local', durationSeconds: 60, width: 320, height: 240 });
    const cancelled = await client.cancelTask(task.id);
    expect(cancelled.id).toBe(task.id);
    expect((await client.watch(task.id)).status).toBe('CANCELLED');
    expect(await caught(client.cancelTask(task.id))).toMatchObject({ kind: 'api', type: 'InvalidStateError', code: 'TASK_FINISHED' });

    const retry = await client.retryTask(task.id);
    expect(retry.id).not.toBe(task.id);
    expect(retry.retryOf).toEqual({ id: task.id });
    await client.cancelTask(retry.id);
    expect((await client.watch(retry.id)).status).toBe('CANCELLED');
    expect(await client.deleteTask(retry.id)).toBe(retry.id);
    expect(await client.task(retry.id)).toBeNull();
  });

  it('lists tasks, providers and stats', async () => {
    const page = await client.tasks({ first: 2, filter: { status: ['COMPLETED'] } });
    expect(page.totalCount).toBeGreaterThanOrEqual(2);
    expect(page.nodes).toHaveLength(2);
    expect(page.nodes.every((n) => n.status === 'COMPLETED')).toBe(true);
    expect(page.pageInfo.hasNextPage).toBe(page.totalCount > 2);
    const providers = await client.providers();
    expect(providers.find((p) => p.id === 'local')).toMatchObject({ kind: 'local', isDefault: true });
    const stats = await client.stats();
    expect(stats.completed).toBeGreaterThanOrEqual(2);
    expect(stats.byProvider.find((p) => p.provider === 'local')).toBeTruthy();
  });

  it('watchTasks: ready once the server has registered it, then every change of matching tasks', async () => {
    const list = watchList(client, { search: 'listed' });
    try {
      await until(list.readies, (n) => n === 1);
      // Made right after `ready`, without a probe: it is delivered.
      const task = await client.createVideoTask({ prompt: 'listed one', provider: 'local', durationSeconds: 60, width: 320, height: 240 });
      const other = await client.createVideoTask({ prompt: 'not in the list', provider: 'local', durationSeconds: 60, width: 320, height: 240 });
      await until(() => list.seen, (s) => s.some((t) => t.id === task.id));
      await client.cancelTask(other.id);
      await client.cancelTask(task.id);
      await until(() => list.seen, (s) => s.some((t) => t.id === task.id && t.status === 'CANCELLED'));
      expect(list.seen.every((t) => t.prompt.includes('listed'))).toBe(true);
      expect(list.readies()).toBe(1);
      expect(list.errors).toEqual([]);
    } finally {
      list.stop();
    }
  });

  it('watchTasks: a dropped socket reconnects and says ready again (read the list then)', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(t.url).port) });
    let connected = 0;
    let disconnected = 0;
    const viaProxy = createReelayClient({
      url: `http://127.0.0.1:${proxy.port}`,
      apiKey: KEY,
      webSocketImpl: WebSocket,
      onConnected: () => connected++,
      onDisconnected: () => disconnected++,
    });
    const list = watchList(viaProxy, { search: 'reconnected' });
    try {
      await until(list.readies, (n) => n === 1);
      proxy.dropAll();
      await until(list.readies, (n) => n === 2);
      expect({ connected, disconnected }).toEqual({ connected: 2, disconnected: 1 });
      const task = await client.createVideoTask({ prompt: 'reconnected one', provider: 'local', durationSeconds: 60, width: 320, height: 240 });
      await client.cancelTask(task.id);
      await until(() => list.seen, (s) => s.some((x) => x.id === task.id && x.status === 'CANCELLED'));
      expect(list.errors).toEqual([]);
    } finally {
      list.stop();
      await viaProxy.close();
      await proxy.close();
    }
  });

  it('request: any document written with graphql(), typed by the schema', async () => {
    const Health = graphql(`query Health { health { db providers { id healthy } } }`);
    const health = await client.request(Health);
    expect(health.health.db).toBe(true);
    expect(health.health.providers.map((p) => p.id)).toContain('local');
    const Events = graphql(`query Events($id: ID!) { task(id: $id) { events { status at } } }`);
    const task = await client.createVideoTask({ prompt: 'with a history', provider: 'local', durationSeconds: 60, width: 320, height: 240 });
    await client.cancelTask(task.id);
    const events = await client.request(Events, { id: task.id });
    expect(events.task?.events.map((e) => e.status)).toEqual(expect.arrayContaining(['QUEUED', 'CANCELLED']));
    // Top-level errors are thrown as for every method.
    const Bad = graphql(`query Bad($id: ID!) { task(id: $id) { id } }`);
    expect(await caught(client.request(Bad, { id: null as unknown as string }))).toMatchObject({ kind: 'graphql', message: expect.stringContaining('$id') });
  });

  it('uploads an image Blob as a GraphQL multipart request', async () => {
    const png = new Blob([new Uint8Array(makePng(64, 48, { rgb: [200, 40, 40] }))], { type: 'image/png' });
    const task = await client.createVideoTask({ prompt: 'From an upload', provider: 'local', durationSeconds: 1, width: 320, height: 240, image: { file: png } });
    expect(task.inputImage?.contentType).toBe('image/png');
    expect((await client.watch(task.id)).status).toBe('COMPLETED');
    const bad = new Blob([new Uint8Array(makePng(64, 48, { corrupt: true }))], { type: 'image/png' });
    expect(await caught(client.createVideoTask({ prompt: 'broken', image: { file: bad } }))).toMatchObject({ code: 'INVALID_IMAGE', field: 'image.file' });
  });

  it('a wrong key: UNAUTHENTICATED over HTTP and over the WebSocket, each told to onAuthError', async () => {
    const told: ReelayError[] = [];
    const wrong = createReelayClient({ url: `${t.url}/graphql`, apiKey: 'wrong-key-123456', webSocketImpl: WebSocket, onAuthError: (e) => told.push(e) });
    try {
      const http = await caught(wrong.tasks());
      expect(http).toMatchObject({ kind: 'graphql', code: 'UNAUTHENTICATED', status: 401 });
      expect(told).toEqual([http]);
      // Refused at connection time (4403), before the task is looked at.
      expect(await caught(wrong.watch('00000000-0000-4000-8000-000000000000'))).toMatchObject({ kind: 'graphql', code: 'UNAUTHENTICATED' });
      expect(told).toHaveLength(2);
      expect(isAuthError(told[1])).toBe(true);
      expect(told[1]!.message).toMatch(/4403/);
      // Errors that are not about the key are not told.
      await caught(client.cancelTask('00000000-0000-4000-8000-000000000000'));
      expect(told).toHaveLength(2);
    } finally {
      await wrong.close();
    }
  });

  it('a server that cannot be reached: NETWORK_ERROR, kind "network"', async () => {
    const port = await freePort(); // nothing listens there
    const down = createReelayClient({ url: `http://127.0.0.1:${port}`, apiKey: KEY, webSocketImpl: WebSocket });
    const e = await caught(down.createVideoTask({ prompt: 'x' }));
    expect(e).toMatchObject({ kind: 'network', code: NETWORK_ERROR });
    expect(e.isNetworkError).toBe(true);
    expect(e.message).toMatch(/ECONNREFUSED/);
  });

  it('needs a WebSocket implementation where there is no global one', async () => {
    const noWs = createReelayClient({ url: t.url, apiKey: KEY });
    if ((globalThis as { WebSocket?: unknown }).WebSocket) return; // Node 22+: a global exists
    await expect(noWs.watch('00000000-0000-4000-8000-000000000000')).rejects.toThrow(/webSocketImpl/);
  });
});
