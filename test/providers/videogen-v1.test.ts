// Contract tests of the videogen-v1 adapter against its emulator (seed 000).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import type { GenerationRequest, Provider, ProviderConfig, ResultSource, Snapshot } from '../../src/providers/types.js';
import { createVideogenV1Provider, statusMap } from '../../src/providers/videogen-v1/index.js';
import { TINY_PNG, fakeMp4 } from '../emulators/common.js';
import { DEFAULT_FAIL_MESSAGE, startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';

let emu: VideogenV1Emulator;

beforeAll(async () => {
  emu = await startVideogenV1Emulator({ processingAfterMs: 100, completeAfterMs: 300 });
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
  return { id: 'vg', kind: 'videogen-v1', baseUrl: emu.url, models: [], maxConcurrency: 2, pollIntervalMs: 50, timeoutMs: 60_000, fallback: [], allowHosts: [], options: {}, ...over };
}
const provider = (over: Partial<ProviderConfig> = {}): Provider => createVideogenV1Provider(config(over), { workDir: os.tmpdir() });
const ctx = () => ({ signal: AbortSignal.timeout(10_000) });
const req = (prompt: string, over: Partial<GenerationRequest> = {}): GenerationRequest => ({ taskId: 't1', prompt, ...over });

async function pollUntilDone(p: Provider, id: string, request: GenerationRequest, seen: Snapshot[] = []): Promise<Snapshot> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const snap = await p.poll(id, { ...ctx(), request });
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

describe('videogen-v1 adapter', () => {
  it('declares honest capabilities and a status table', () => {
    const p = provider({ models: ['ep-1'] });
    expect(p.kind).toBe('videogen-v1');
    expect(p.capabilities).toMatchObject({ textToVideo: true, imageToVideo: true, cancel: false, progress: false, negativePrompt: false, seed: false, durations: null, customSize: false, aspectRatios: [], models: ['ep-1'], resubmitSafe: false });
    expect(statusMap).toEqual({ pending: 'processing', processing: 'processing', completed: 'completed', failed: 'failed' });
  });

  it('text-to-video: submit, pending → processing → completed, result bytes match', async () => {
    // Wide enough windows that a loaded machine's first poll still sees `pending`.
    Object.assign(emu, { processingAfterMs: 1000, completeAfterMs: 1500 });
    onTestFinished(() => void Object.assign(emu, { processingAfterMs: 100, completeAfterMs: 300 }));
    const p = provider();
    const request = req('A cat playing piano');
    const { providerTaskId, snapshot } = await p.submit(request, ctx());
    expect(providerTaskId).toMatch(/^task_/);
    expect(snapshot).toBeUndefined();
    const created = emu.server.requests.filter((r) => r.method === 'POST').at(-1)!;
    expect(created.json).toEqual({ prompt: 'A cat playing piano' });
    expect(created.headers.authorization).toBeUndefined();

    const seen: Snapshot[] = [];
    const done = await pollUntilDone(p, providerTaskId, request, seen);
    expect(seen[0]).toEqual({ state: 'processing', progress: null, upstreamStatus: 'pending', message: 'queued upstream' });
    expect(seen.some((s) => s.state === 'processing' && s.upstreamStatus === 'processing')).toBe(true);
    if (done.state !== 'completed') throw new Error(`expected completed, got ${done.state}`);
    expect(done.upstreamStatus).toBe('completed');
    expect(done.result).toMatchObject({ mediaType: 'VIDEO', durationSeconds: 5, width: 1920, height: 1080 });
    expect(done.result.source).toEqual({ kind: 'url', url: emu.videoUrl(providerTaskId) });
    expect((await download(done.result.source)).equals(fakeMp4(providerTaskId))).toBe(true);
  });

  it('image-to-video passes a URL image straight through', async () => {
    const { providerTaskId } = await provider().submit(req('sunset', { image: { kind: 'url', url: 'https://example.com/image.jpg' } }), ctx());
    expect(emu.tasks.get(providerTaskId)!.imageUrl).toBe('https://example.com/image.jpg');
  });

  it('a file image needs options.acceptDataUrl, otherwise nothing is sent', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vg-'));
    const file = path.join(dir, 'in.png');
    await fs.writeFile(file, TINY_PNG);
    const image = { kind: 'file' as const, path: file, contentType: 'image/png' };
    const before = emu.createRequests;
    const err = await caught(provider().submit(req('x', { image }), ctx()));
    expect(err).toMatchObject({ code: 'IMAGE_URL_REQUIRED', retryable: false, maybeCreated: false });
    expect(emu.createRequests).toBe(before);

    const { providerTaskId } = await provider({ options: { acceptDataUrl: true } }).submit(req('x', { image }), ctx());
    expect(emu.tasks.get(providerTaskId)!.imageUrl).toBe(`data:image/png;base64,${TINY_PNG.toString('base64')}`);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('sends the API key as Bearer only when configured (and for same-origin results)', async () => {
    const locked = await startVideogenV1Emulator({ apiKey: 'sekrit', processingAfterMs: 0, completeAfterMs: 0 });
    try {
      const err = await caught(provider({ baseUrl: locked.url }).submit(req('x'), ctx()));
      expect(err).toMatchObject({ status: 401, retryable: false });
      const p = provider({ baseUrl: locked.url, apiKey: 'sekrit' });
      const { providerTaskId } = await p.submit(req('x'), ctx());
      expect(locked.server.requests.at(-1)!.headers.authorization).toBe('Bearer sekrit');
      const done = await pollUntilDone(p, providerTaskId, req('x'));
      expect(done.state === 'completed' && done.result.source).toEqual({ kind: 'url', url: locked.videoUrl(providerTaskId), headers: { authorization: 'Bearer sekrit' } });
      expect(err.message).not.toContain('sekrit');
    } finally {
      await locked.close();
    }
  });

  it('maps an upstream failure with its message ([fail] keyword and failNext)', async () => {
    const p = provider();
    const a = await p.submit(req('a [fail] b'), ctx());
    emu.failNext('Video generation failed: content policy');
    const b = await p.submit(req('fine'), ctx());
    const [sa, sb] = await Promise.all([pollUntilDone(p, a.providerTaskId, req('x')), pollUntilDone(p, b.providerTaskId, req('x'))]);
    expect(sa).toEqual({ state: 'failed', code: 'UPSTREAM_FAILED', message: DEFAULT_FAIL_MESSAGE, upstreamStatus: 'failed' });
    expect(sb).toMatchObject({ state: 'failed', message: 'Video generation failed: content policy' });
  });

  it('a code ≠ 0 envelope is a failure with its message', async () => {
    emu.server.faults.add({ match: 'POST /api/v1/videos/tasks', times: 1, fault: { type: 'status', status: 201, body: { code: 1001, message: 'quota exceeded', data: null } } });
    const err = await caught(provider().submit(req('x'), ctx()));
    expect(err).toMatchObject({ code: 'UPSTREAM_REJECTED', message: 'quota exceeded', retryable: false, maybeCreated: false });
  });

  it('an empty prompt is the documented 400, permanent', async () => {
    const err = await caught(provider().submit(req('  '), ctx()));
    expect(err).toMatchObject({ status: 400, message: 'Prompt cannot be empty', retryable: false, maybeCreated: false });
  });

  it.each([503, 429])('HTTP %i on submit is retryable and created nothing', async (status) => {
    emu.server.faults.add({ match: 'POST /api/v1/videos/tasks', times: 1, fault: { type: 'status', status, body: { detail: 'Failed to connect to video generation service' }, headers: { 'retry-after': '2' } } });
    const err = await caught(provider().submit(req('x'), ctx()));
    expect(err).toMatchObject({ status, retryable: true, maybeCreated: false, retryAfterSeconds: 2, message: 'Failed to connect to video generation service' });
  });

  it('HTTP 500 on submit may have created the task', async () => {
    emu.server.faults.add({ match: 'POST /api/v1/videos/tasks', times: 1, fault: { type: 'status', status: 500, body: { detail: 'Unexpected error: boom' } } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ retryable: true, maybeCreated: true, message: 'Unexpected error: boom' });
  });

  it('a reset or a hang after sending is "maybe created"', async () => {
    emu.server.faults.add({ match: 'POST /api/v1/videos/tasks', times: 1, fault: { type: 'reset' } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_NETWORK', maybeCreated: true });
    emu.server.faults.add({ match: 'POST /api/v1/videos/tasks', times: 1, fault: { type: 'hang' } });
    expect(await caught(provider({ requestTimeoutMs: 150 }).submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_TIMEOUT', retryable: true, maybeCreated: true });
  });

  it('a refused connection is retryable and created nothing', async () => {
    const gone = await startVideogenV1Emulator();
    const url = gone.url;
    await gone.close();
    expect(await caught(provider({ baseUrl: url }).submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_UNREACHABLE', retryable: true, maybeCreated: false });
  });

  it('malformed JSON is UPSTREAM_MALFORMED on submit and poll', async () => {
    emu.server.faults.add({ match: 'POST /api/v1/videos/tasks', times: 1, fault: { type: 'malformed' } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', maybeCreated: true });
    const { providerTaskId } = await provider().submit(req('x'), ctx());
    emu.server.faults.add({ match: 'GET /api/v1/videos/tasks/', times: 1, fault: { type: 'malformed' } });
    expect(await caught(provider().poll(providerTaskId, { ...ctx(), request: req('x') }))).toMatchObject({ code: 'UPSTREAM_MALFORMED', retryable: true });
  });

  it('an unexpected body shape or status word is a retryable malformed answer', async () => {
    emu.server.faults.add({ match: 'POST /api/v1/videos/tasks', times: 1, fault: { type: 'status', status: 201, body: { code: 0, message: 'ok', data: { nope: 1 } } } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', maybeCreated: true });
    emu.server.faults.add({ match: 'GET /api/v1/videos/tasks/', times: 1, fault: { type: 'status', status: 200, body: { code: 0, message: 'ok', data: { id: 'task_x', status: 'exploding' } } } });
    expect(await caught(provider().poll('task_x', { ...ctx(), request: req('x') }))).toMatchObject({ code: 'UPSTREAM_MALFORMED', retryable: true, message: expect.stringContaining('exploding') });
  });

  it('HTTP 500/503 on poll is retryable', async () => {
    const { providerTaskId } = await provider().submit(req('x'), ctx());
    emu.server.faults.add({ match: 'GET /api/v1/videos/tasks/', times: 2, fault: { type: 'status', status: 500, body: { detail: 'Unexpected error: db' } } });
    expect(await caught(provider().poll(providerTaskId, { ...ctx(), request: req('x') }))).toMatchObject({ retryable: true, message: 'Unexpected error: db' });
    expect(await caught(provider().poll(providerTaskId, { ...ctx(), request: req('x') }))).toMatchObject({ retryable: true });
    expect((await provider().poll(providerTaskId, { ...ctx(), request: req('x') })).state).toBe('processing');
  });

  it('a vanished task is UPSTREAM_TASK_NOT_FOUND, permanent', async () => {
    const p = provider();
    const a = await p.submit(req('[vanish] me'), ctx());
    expect((await p.poll(a.providerTaskId, { ...ctx(), request: req('x') })).state).toBe('processing');
    const err = await caught(p.poll(a.providerTaskId, { ...ctx(), request: req('x') }));
    expect(err).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND', retryable: false, message: `upstream task ${a.providerTaskId} no longer exists` });
    const b = await p.submit(req('x'), ctx());
    emu.vanish(b.providerTaskId);
    expect(await caught(p.poll(b.providerTaskId, { ...ctx(), request: req('x') }))).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND' });
  });

  it('[never] and neverFinish keep a task processing', async () => {
    const p = provider();
    const a = await p.submit(req('[never]'), ctx());
    emu.neverFinish = true;
    const b = await p.submit(req('plain'), ctx());
    await new Promise((r) => setTimeout(r, 350));
    expect(await p.poll(a.providerTaskId, { ...ctx(), request: req('x') })).toMatchObject({ state: 'processing', upstreamStatus: 'processing' });
    expect(await p.poll(b.providerTaskId, { ...ctx(), request: req('x') })).toMatchObject({ state: 'processing', upstreamStatus: 'processing' });
    emu.neverFinish = false;
    expect((await p.poll(b.providerTaskId, { ...ctx(), request: req('x') })).state).toBe('completed');
    expect((await p.poll(a.providerTaskId, { ...ctx(), request: req('x') })).state).toBe('processing');
  });

  it('health follows the health endpoint', async () => {
    const p = provider();
    expect(await p.health!(ctx())).toBe(true);
    emu.healthy = false;
    expect(await p.health!(ctx())).toBe(false);
    emu.server.faults.add({ match: 'GET /api/v1/videos/health', times: 1, fault: { type: 'status', status: 503 } });
    await expect(p.health!(ctx())).rejects.toBeInstanceOf(UpstreamError);
  });

  it('counts create requests, so "never pay twice" can be checked', async () => {
    const before = emu.createRequests;
    emu.server.faults.add({ match: 'POST /api/v1/videos/tasks', times: 1, fault: { type: 'status', status: 503 } });
    await caught(provider().submit(req('x'), ctx()));
    await provider().submit(req('x'), ctx());
    expect(emu.createRequests).toBe(before + 2);
  });
});
