// Contract tests of the tasks-api adapter against its emulator (seed 004).
import os from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import { createTasksApiProvider, statusMap } from '../../src/providers/tasks-api/index.js';
import type { GenerationRequest, Provider, ProviderConfig, ResultSource, Snapshot } from '../../src/providers/types.js';
import { fakeMp4 } from '../emulators/common.js';
import { DEFAULT_FAIL_MESSAGE, startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';

let emu: TasksApiEmulator;

beforeAll(async () => {
  emu = await startTasksApiEmulator({ processingAfterMs: 100, completeAfterMs: 300 });
});
afterAll(async () => {
  await emu.close();
});
afterEach(() => {
  emu.server.faults.clear();
  emu.neverFinish = false;
  emu.healthy = true;
});

function config(over: Partial<ProviderConfig> = {}): ProviderConfig {
  return { id: 'tasks', kind: 'tasks-api', baseUrl: emu.baseUrl, models: [], maxConcurrency: 2, pollIntervalMs: 50, timeoutMs: 60_000, fallback: [], allowHosts: [], options: {}, ...over };
}
const provider = (over: Partial<ProviderConfig> = {}): Provider => createTasksApiProvider(config(over), { workDir: os.tmpdir() });
const ctx = () => ({ signal: AbortSignal.timeout(10_000) });
const req = (prompt: string, over: Partial<GenerationRequest> = {}): GenerationRequest => ({ taskId: 't1', prompt, ...over });
const pollCtx = () => ({ ...ctx(), request: req('x') });

async function pollUntilDone(p: Provider, id: string, seen: Snapshot[] = []): Promise<Snapshot> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const snap = await p.poll(id, pollCtx());
    seen.push(snap);
    if (snap.state !== 'processing') return snap;
    if (Date.now() > deadline) throw new Error('task did not finish');
    await new Promise((r) => setTimeout(r, 40));
  }
}

async function download(source: ResultSource): Promise<Buffer> {
  if (source.kind !== 'url') throw new Error('expected a URL result');
  const res = await fetch(source.url, { headers: source.headers });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function caught(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

describe('tasks-api adapter', () => {
  it('declares honest capabilities and a status table', () => {
    const p = provider();
    expect(p.kind).toBe('tasks-api');
    expect(p.capabilities).toMatchObject({ textToVideo: true, imageToVideo: false, cancel: true, progress: false, negativePrompt: false, seed: false, durations: null, customSize: false, aspectRatios: [], models: [], resubmitSafe: false });
    expect(statusMap).toEqual({ pending: 'processing', processing: 'processing', completed: 'completed', failed: 'failed' });
  });

  it('submit, pending → processing → completed; the relative result resolves against baseUrl', async () => {
    const p = provider();
    const { providerTaskId } = await p.submit(req('森林探险'), ctx());
    expect(providerTaskId).toMatch(/^[0-9a-f-]{36}$/);
    const created = emu.server.requests.filter((r) => r.method === 'POST').at(-1)!;
    expect(created.path).toBe('/api/tasks/');
    expect(created.json).toEqual({ prompt: '森林探险' });

    const seen: Snapshot[] = [];
    const done = await pollUntilDone(p, providerTaskId, seen);
    expect(seen[0]).toEqual({ state: 'processing', progress: null, upstreamStatus: 'pending', message: 'queued upstream' });
    expect(seen.some((s) => s.state === 'processing' && s.upstreamStatus === 'processing')).toBe(true);
    if (done.state !== 'completed') throw new Error(`expected completed, got ${done.state}`);
    expect(done.result).toMatchObject({ mediaType: 'VIDEO', source: { kind: 'url', url: `${emu.url}/videos/${providerTaskId}_final.mp4` } });
    expect((await download(done.result.source)).equals(fakeMp4(providerTaskId))).toBe(true);
  });

  it.each(['/svc', '/svc/'])('keeps a path prefix of baseUrl (%s)', async (suffix) => {
    const prefixed = await startTasksApiEmulator({ prefix: '/svc', processingAfterMs: 0, completeAfterMs: 0 });
    try {
      const p = provider({ baseUrl: prefixed.url + suffix, apiKey: 'k' });
      expect(await p.health!(ctx())).toBe(true);
      const { providerTaskId } = await p.submit(req('x'), ctx());
      const done = await pollUntilDone(p, providerTaskId);
      if (done.state !== 'completed') throw new Error('expected completed');
      expect(done.result.source).toEqual({ kind: 'url', url: `${prefixed.url}/svc/videos/${providerTaskId}_final.mp4`, headers: { authorization: 'Bearer k' } });
      expect((await download(done.result.source)).equals(fakeMp4(providerTaskId))).toBe(true);
    } finally {
      await prefixed.close();
    }
  });

  it('keeps an absolute result URL as it is (and sends no key to another host)', async () => {
    emu.server.faults.add({ match: 'GET /api/tasks/', times: 1, fault: { type: 'status', status: 200, body: { task_id: 'abc', status: 'completed', result: 'https://cdn.example.com/v/abc.mp4', error: null } } });
    const snap = await provider({ apiKey: 'k' }).poll('abc', pollCtx());
    expect(snap).toMatchObject({ state: 'completed', result: { source: { kind: 'url', url: 'https://cdn.example.com/v/abc.mp4' } } });
    expect(snap.state === 'completed' && snap.result.source.kind === 'url' && snap.result.source.headers).toBeUndefined();
  });

  it('cancel sends DELETE; the task is then gone; cancelling a gone task is fine', async () => {
    const p = provider();
    const { providerTaskId } = await p.submit(req('x'), ctx());
    await p.cancel(providerTaskId, ctx());
    expect(emu.deleted).toContain(providerTaskId);
    expect(emu.server.requests.at(-1)).toMatchObject({ method: 'DELETE', path: `/api/tasks/${providerTaskId}` });
    expect(await caught(p.poll(providerTaskId, pollCtx()))).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND', retryable: false });
    await expect(p.cancel(providerTaskId, ctx())).resolves.toBeUndefined();
    emu.server.faults.add({ match: 'DELETE /api/tasks/', times: 1, fault: { type: 'status', status: 500 } });
    expect(await caught(p.cancel('whatever', ctx()))).toMatchObject({ retryable: true });
  });

  it('maps an upstream failure with its message ([fail] and failNext)', async () => {
    const p = provider();
    const a = await p.submit(req('[fail] please'), ctx());
    emu.failNext('GPU exploded');
    const b = await p.submit(req('ok'), ctx());
    const [sa, sb] = await Promise.all([pollUntilDone(p, a.providerTaskId), pollUntilDone(p, b.providerTaskId)]);
    expect(sa).toEqual({ state: 'failed', code: 'UPSTREAM_FAILED', message: DEFAULT_FAIL_MESSAGE, upstreamStatus: 'failed' });
    expect(sb).toMatchObject({ state: 'failed', message: 'GPU exploded' });
  });

  it('a vanished task is UPSTREAM_TASK_NOT_FOUND, permanent', async () => {
    const p = provider();
    const a = await p.submit(req('[vanish]'), ctx());
    expect((await p.poll(a.providerTaskId, pollCtx())).state).toBe('processing');
    expect(await caught(p.poll(a.providerTaskId, pollCtx()))).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND', message: `upstream task ${a.providerTaskId} no longer exists`, retryable: false });
    const b = await p.submit(req('x'), ctx());
    emu.vanish(b.providerTaskId);
    expect(await caught(p.poll(b.providerTaskId, pollCtx()))).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND' });
  });

  it('[never] and neverFinish keep a task processing', async () => {
    const p = provider();
    const a = await p.submit(req('[never]'), ctx());
    emu.neverFinish = true;
    const b = await p.submit(req('x'), ctx());
    await new Promise((r) => setTimeout(r, 350));
    expect(await p.poll(a.providerTaskId, pollCtx())).toMatchObject({ state: 'processing', upstreamStatus: 'processing' });
    expect(await p.poll(b.providerTaskId, pollCtx())).toMatchObject({ state: 'processing' });
    emu.neverFinish = false;
    expect((await p.poll(b.providerTaskId, pollCtx())).state).toBe('completed');
  });

  it('an empty prompt is the FastAPI 422, permanent with its message', async () => {
    expect(await caught(provider().submit(req(''), ctx()))).toMatchObject({ status: 422, message: 'body.prompt: String should have at least 1 character', retryable: false, maybeCreated: false });
  });

  it('an image request is refused before anything is sent', async () => {
    const before = emu.createRequests;
    expect(await caught(provider().submit(req('x', { image: { kind: 'url', url: 'https://example.com/a.png' } }), ctx()))).toMatchObject({ code: 'IMAGE_NOT_SUPPORTED', retryable: false });
    expect(emu.createRequests).toBe(before);
  });

  it.each([503, 429])('HTTP %i on submit is retryable and created nothing', async (status) => {
    emu.server.faults.add({ match: 'POST /api/tasks/', times: 1, fault: { type: 'status', status } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ status, retryable: true, maybeCreated: false });
  });

  it('500, reset or hang on submit is "maybe created"', async () => {
    emu.server.faults.add({ match: 'POST /api/tasks/', times: 1, fault: { type: 'status', status: 500, body: { detail: 'Internal Server Error' } } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ retryable: true, maybeCreated: true });
    emu.server.faults.add({ match: 'POST /api/tasks/', times: 1, fault: { type: 'reset' } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_NETWORK', maybeCreated: true });
    emu.server.faults.add({ match: 'POST /api/tasks/', times: 1, fault: { type: 'hang' } });
    expect(await caught(provider({ requestTimeoutMs: 150 }).submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_TIMEOUT', maybeCreated: true });
  });

  it('malformed JSON is UPSTREAM_MALFORMED; an unknown status word is retryable', async () => {
    emu.server.faults.add({ match: 'POST /api/tasks/', times: 1, fault: { type: 'malformed' } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', maybeCreated: true });
    emu.server.faults.add({ match: 'GET /api/tasks/', times: 1, fault: { type: 'malformed' } });
    expect(await caught(provider().poll('abc', pollCtx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', retryable: true });
    emu.server.faults.add({ match: 'GET /api/tasks/', times: 1, fault: { type: 'status', status: 200, body: { task_id: 'abc', status: 'rendering' } } });
    expect(await caught(provider().poll('abc', pollCtx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', retryable: true, message: expect.stringContaining('rendering') });
  });

  it('HTTP 500 on poll is retryable; the task is still there afterwards', async () => {
    const { providerTaskId } = await provider().submit(req('x'), ctx());
    emu.server.faults.add({ match: 'GET /api/tasks/', times: 1, fault: { type: 'status', status: 500 } });
    expect(await caught(provider().poll(providerTaskId, pollCtx()))).toMatchObject({ retryable: true });
    expect((await provider().poll(providerTaskId, pollCtx())).state).toBe('processing');
  });

  it('health follows GET /health', async () => {
    const p = provider();
    expect(await p.health!(ctx())).toBe(true);
    emu.server.faults.add({ match: 'GET /health', times: 1, fault: { type: 'status', status: 200, body: { status: 'degraded' } } });
    expect(await p.health!(ctx())).toBe(false);
    emu.healthy = false;
    await expect(p.health!(ctx())).rejects.toBeInstanceOf(UpstreamError);
  });

  it('the emulator redirects the slash-less path like FastAPI and lists tasks', async () => {
    const res = await fetch(`${emu.url}/api/tasks`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' });
    expect(res.status).toBe(307);
    const list = (await (await fetch(`${emu.url}/api/tasks/?limit=2`)).json()) as { tasks: unknown[]; total: number };
    expect(list.tasks.length).toBeLessThanOrEqual(2);
    expect(list.total).toBe(emu.tasks.size);
  });

  it('counts create requests, so "never pay twice" can be checked', async () => {
    const before = emu.createRequests;
    emu.server.faults.add({ match: 'POST /api/tasks/', times: 1, fault: { type: 'status', status: 503 } });
    await caught(provider().submit(req('x'), ctx()));
    await provider().submit(req('x'), ctx());
    expect(emu.createRequests).toBe(before + 2);
  });
});
