// Contract tests of the sora-ui adapter against its emulator (seed 002).
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import { createSoraUiProvider, statusMap } from '../../src/providers/sora-ui/index.js';
import type { GenerationRequest, Provider, ProviderConfig, ResultSource, Snapshot } from '../../src/providers/types.js';
import { EmulatorServer, TINY_PNG, fakeMp4 } from '../emulators/common.js';
import { SORA_UI_FAIL_MESSAGE, type SoraUiEmulator, startSoraUiEmulator } from '../emulators/sora-ui.js';

let emu: SoraUiEmulator;
let images: EmulatorServer;
let tmp: string;

beforeAll(async () => {
  emu = await startSoraUiEmulator({ processingAfterMs: 80, completeAfterMs: 400 });
  images = new EmulatorServer();
  images.route('GET', '/cat.png', () => ({ body: TINY_PNG, headers: { 'content-type': 'image/png' } }));
  images.route('GET', '/not-an-image', () => ({ body: 'hello', headers: { 'content-type': 'image/png' } }));
  await images.listen();
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'reelay-sora-'));
});
afterAll(async () => {
  await emu.close();
  await images.close();
  await fsp.rm(tmp, { recursive: true, force: true });
});
afterEach(() => {
  emu.server.faults.clear();
  emu.neverFinish = false;
});

function config(over: Partial<ProviderConfig> = {}): ProviderConfig {
  return { id: 'sora', kind: 'sora-ui', baseUrl: emu.url, apiKey: emu.token, models: [], maxConcurrency: 2, pollIntervalMs: 50, timeoutMs: 60_000, requestTimeoutMs: 2000, fallback: [], allowHosts: ['127.0.0.1'], options: {}, ...over }; // the image emulator is on loopback
}
const provider = (over: Partial<ProviderConfig> = {}): Provider => createSoraUiProvider(config(over), { workDir: tmp });
const ctx = () => ({ signal: new AbortController().signal });
const req = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({ taskId: 'task-1', prompt: 'a cat playing in the sun', ...over });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pollUntilDone(p: Provider, id: string, request: GenerationRequest, seen: Snapshot[] = []): Promise<Snapshot> {
  for (let i = 0; i < 200; i++) {
    const snap = await p.poll(id, { ...ctx(), request });
    seen.push(snap);
    if (snap.state !== 'processing') return snap;
    await sleep(30);
  }
  throw new Error('task did not finish');
}

async function download(source: ResultSource): Promise<{ bytes: Buffer; type: string | null }> {
  if (source.kind !== 'url') throw new Error('expected a URL source');
  const res = await fetch(source.url, { headers: source.headers });
  expect(res.status).toBe(200);
  return { bytes: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamError);
    return err as UpstreamError;
  }
  throw new Error('expected a failure');
}

function completed(snap: Snapshot) {
  if (snap.state !== 'completed') throw new Error(`expected completed, got ${JSON.stringify(snap)}`);
  return snap.result;
}

describe('sora-ui adapter', () => {
  it('exports the status map and honest capabilities', () => {
    expect(statusMap).toEqual({ QUEUED: 'processing', PROCESSING: 'processing', COMPLETED: 'completed', FAILED: 'failed', CANCELLED: 'cancelled' });
    const p = provider({ models: ['sora_video2-pro'] });
    expect(p.kind).toBe('sora-ui');
    expect(p.capabilities).toMatchObject({ textToVideo: true, imageToVideo: true, cancel: true, progress: true, negativePrompt: false, seed: false, customSize: true, resubmitSafe: false });
    expect(p.capabilities.models).toEqual(expect.arrayContaining(['sora_video2', 'gemini-2.5-flash-imagen', 'gemini-2.5-flash-imagen-edit', 'sora_video2-pro']));
    expect(p.health).toBeUndefined();
  });

  it('text to video: submit, progress 0–100 mapped to 0..1, completed, bytes served with the key', async () => {
    const p = provider();
    const request = req({ width: 1280, height: 720, durationSeconds: 10, aspectRatio: '16:9' });
    const out = await p.submit(request, ctx());
    expect(out.providerTaskId).toMatch(/^video_/);
    expect(out.snapshot).toMatchObject({ state: 'processing', progress: 0, upstreamStatus: 'QUEUED' });
    const sent = emu.tasks.get(out.providerTaskId)!;
    expect(sent).toMatchObject({ model: 'sora_video2', size: '1280x720', duration: 10, watermark: false, aspectRatio: '16:9', referenceImage: null });

    const seen: Snapshot[] = [];
    const result = completed(await pollUntilDone(p, out.providerTaskId, request, seen));
    const running = seen.filter((s) => s.state === 'processing' && s.upstreamStatus === 'PROCESSING');
    expect(running.length).toBeGreaterThan(0);
    for (const s of running) if (s.state === 'processing') expect(s.progress).toBeGreaterThan(0), expect(s.progress).toBeLessThan(1);
    const progresses = running.map((s) => (s.state === 'processing' ? s.progress! : 0));
    expect([...progresses].sort((a, b) => a - b)).toEqual(progresses);

    expect(result).toMatchObject({ mediaType: 'VIDEO', width: 1280, height: 720, durationSeconds: 10 });
    expect(result.source).toMatchObject({ kind: 'url', headers: { authorization: `Bearer ${emu.token}` } });
    expect((await download(result.source)).bytes.equals(fakeMp4(out.providerTaskId))).toBe(true);
  });

  it('image to video from a file sends the image as a base64 data URL', async () => {
    const file = path.join(tmp, 'input.png');
    await fsp.writeFile(file, TINY_PNG);
    const p = provider();
    const request = req({ image: { kind: 'file', path: file, contentType: 'image/png' } });
    const out = await p.submit(request, ctx());
    const sent = emu.tasks.get(out.providerTaskId)!;
    expect(sent.referenceImage?.contentType).toBe('image/png');
    expect(sent.referenceImage?.bytes.equals(TINY_PNG)).toBe(true);
    const result = completed(await pollUntilDone(p, out.providerTaskId, request));
    expect((await download(result.source)).bytes.equals(fakeMp4(out.providerTaskId))).toBe(true);
  });

  it('image to video from a URL fetches the bytes first', async () => {
    const p = provider();
    const out = await p.submit(req({ image: { kind: 'url', url: `${images.url}/cat.png` } }), ctx());
    expect(emu.tasks.get(out.providerTaskId)!.referenceImage?.bytes.equals(TINY_PNG)).toBe(true);
  });

  it('refuses a URL that is not an image before submitting anything', async () => {
    const before = emu.createRequests;
    const err = await failure(provider().submit(req({ image: { kind: 'url', url: `${images.url}/not-an-image` } }), ctx()));
    expect(err).toMatchObject({ code: 'INVALID_IMAGE', retryable: false, maybeCreated: false });
    expect(emu.createRequests).toBe(before);
  });

  it('imagen models produce an IMAGE result', async () => {
    const p = provider();
    const request = req({ model: 'gemini-2.5-flash-imagen', durationSeconds: 7 });
    const out = await p.submit(request, ctx());
    expect(emu.tasks.get(out.providerTaskId)!.duration).toBe(10); // the emulator's default: no duration is sent for images
    const result = completed(await pollUntilDone(p, out.providerTaskId, request));
    expect(result).toMatchObject({ mediaType: 'IMAGE', durationSeconds: null });
    const got = await download(result.source);
    expect(got.type).toBe('image/png');
    expect(got.bytes.equals(TINY_PNG)).toBe(true);
  });

  it('uses options.defaultModel when the request names none', async () => {
    const p = provider({ options: { defaultModel: 'sora_video2-portrait' } });
    const out = await p.submit(req(), ctx());
    expect(emu.tasks.get(out.providerTaskId)!.model).toBe('sora_video2-portrait');
  });

  it('falls back to the content endpoint when the completed task has no videoUrl', async () => {
    const p = provider();
    const request = req({ prompt: 'a quiet lake [nourl]' });
    const out = await p.submit(request, ctx());
    const result = completed(await pollUntilDone(p, out.providerTaskId, request));
    expect(emu.server.requests.some((r) => r.path === `/api/video/tasks/${out.providerTaskId}/content`)).toBe(true);
    expect((await download(result.source)).bytes.equals(fakeMp4(out.providerTaskId))).toBe(true);
  });

  it('a content endpoint not ready yet is worth another poll', async () => {
    const p = provider();
    const out = await p.submit(req({ prompt: 'a quiet lake [nourl]' }), ctx());
    while (emu.statusOf(out.providerTaskId) !== 'COMPLETED') await sleep(30);
    emu.server.faults.add({ match: `GET /api/video/tasks/${out.providerTaskId}/content`, fault: { type: 'status', status: 400, body: { success: false, message: 'not ready', code: 'TASK_NOT_COMPLETED' } }, times: 1 });
    expect(await failure(p.poll(out.providerTaskId, { ...ctx(), request: req() }))).toMatchObject({ code: 'UPSTREAM_NO_RESULT', retryable: true });
    expect((await p.poll(out.providerTaskId, { ...ctx(), request: req() })).state).toBe('completed');
  });

  it('maps a failed task with the upstream message (keyword and programmatic)', async () => {
    const p = provider();
    const a = await p.submit(req({ prompt: 'forbidden [fail]' }), ctx());
    emu.failNext('quota exhausted for this account');
    const b = await p.submit(req(), ctx());
    expect(await pollUntilDone(p, a.providerTaskId, req())).toEqual({ state: 'failed', code: 'UPSTREAM_FAILED', message: SORA_UI_FAIL_MESSAGE, upstreamStatus: 'FAILED' });
    expect(await pollUntilDone(p, b.providerTaskId, req())).toMatchObject({ state: 'failed', message: 'quota exhausted for this account' });
  });

  it('cancels a running task upstream', async () => {
    const p = provider();
    const out = await p.submit(req({ prompt: 'long one [never]' }), ctx());
    await sleep(120);
    await p.cancel(out.providerTaskId, ctx());
    expect(emu.statusOf(out.providerTaskId)).toBe('CANCELLED');
    expect(await p.poll(out.providerTaskId, { ...ctx(), request: req() })).toMatchObject({ state: 'cancelled', upstreamStatus: 'CANCELLED' });
  });

  it('a wrong token is a permanent error with the upstream message and no key in it', async () => {
    const p = provider({ apiKey: 'wrong-secret-token' });
    const err = await failure(p.submit(req(), ctx()));
    expect(err).toMatchObject({ status: 401, retryable: false, maybeCreated: false, message: 'Unauthorized: invalid or missing token', code: 'UPSTREAM_UNAUTHORIZED' });
    expect(err.message).not.toContain('wrong-secret-token');
  });

  it('a validation error (400) is permanent with the upstream message', async () => {
    const p = provider({ models: ['sora_video3'] });
    const err = await failure(p.submit(req({ model: 'sora_video3' }), ctx()));
    expect(err).toMatchObject({ status: 400, retryable: false, message: 'unsupported model: sora_video3' });
    expect(await failure(p.submit(req({ model: 'nope' }), ctx()))).toMatchObject({ code: 'UNSUPPORTED_MODEL', retryable: false });
  });

  it('a vanished task is UPSTREAM_TASK_NOT_FOUND (keyword and programmatic)', async () => {
    const p = provider();
    const a = await p.submit(req({ prompt: 'gone soon [vanish]' }), ctx());
    await p.poll(a.providerTaskId, { ...ctx(), request: req() });
    const err = await failure(p.poll(a.providerTaskId, { ...ctx(), request: req() }));
    expect(err).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND', retryable: false, message: `upstream task ${a.providerTaskId} no longer exists` });
    const b = await p.submit(req(), ctx());
    emu.vanish(b.providerTaskId);
    expect(await failure(p.poll(b.providerTaskId, { ...ctx(), request: req() }))).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND' });
  });

  it('503 and 429 on submit are retryable refusals: nothing was created', async () => {
    const p = provider();
    emu.server.faults.add({ match: 'POST /api/video/tasks', fault: { type: 'status', status: 503, body: { success: false, message: 'service busy', code: 'SERVICE_UNAVAILABLE' } }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ retryable: true, maybeCreated: false, message: 'service busy' });
    emu.server.faults.add({ match: 'POST /api/video/tasks', fault: { type: 'status', status: 429, headers: { 'retry-after': '7' } }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ retryable: true, maybeCreated: false, retryAfterSeconds: 7 });
  });

  it('no answer after sending (hang, reset, slow) may have created the task', async () => {
    const p = provider({ requestTimeoutMs: 250 });
    emu.server.faults.add({ match: 'POST /api/video/tasks', fault: { type: 'hang' }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ code: 'UPSTREAM_TIMEOUT', retryable: true, maybeCreated: true });
    emu.server.faults.add({ match: 'POST /api/video/tasks', fault: { type: 'reset' }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ retryable: true, maybeCreated: true });
    const before = emu.tasks.size;
    emu.server.faults.add({ match: 'POST /api/video/tasks', fault: { type: 'delay', ms: 400 }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ maybeCreated: true });
    await sleep(250);
    expect(emu.tasks.size).toBe(before + 1); // it really was created
  });

  it('malformed JSON is UPSTREAM_MALFORMED; 500 on poll is retryable', async () => {
    const p = provider();
    emu.server.faults.add({ match: 'POST /api/video/tasks', fault: { type: 'malformed' }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', retryable: true, maybeCreated: true });
    const out = await p.submit(req(), ctx());
    emu.server.faults.add({ match: `GET /api/video/tasks/${out.providerTaskId}`, fault: { type: 'status', status: 500, body: { success: false, message: 'database down', code: 'INTERNAL' } }, times: 1 });
    expect(await failure(p.poll(out.providerTaskId, { ...ctx(), request: req() }))).toMatchObject({ retryable: true, message: 'database down', status: 500 });
    emu.server.faults.add({ match: `GET /api/video/tasks/${out.providerTaskId}`, fault: { type: 'malformed' }, times: 1 });
    expect(await failure(p.poll(out.providerTaskId, { ...ctx(), request: req() }))).toMatchObject({ code: 'UPSTREAM_MALFORMED', retryable: true });
  });

  it('an unknown status is retryable; a foreign result URL never gets the key', async () => {
    const p = provider();
    const fake = (data: unknown) => emu.server.faults.add({ match: 'GET /api/video/tasks/video_x', fault: { type: 'status', status: 200, body: { success: true, data } }, times: 1 });
    fake({ videoId: 'video_x', status: 'DREAMING', progress: 5 });
    expect(await failure(p.poll('video_x', { ...ctx(), request: req() }))).toMatchObject({ code: 'UPSTREAM_UNKNOWN_STATUS', retryable: true });
    fake({ videoId: 'video_x', status: 'COMPLETED', progress: 100, videoUrl: 'https://cdn.example.com/v/x.mp4', size: '720x1280', duration: 8 });
    const result = completed(await p.poll('video_x', { ...ctx(), request: req() }));
    expect(result).toMatchObject({ source: { kind: 'url', url: 'https://cdn.example.com/v/x.mp4' }, width: 720, height: 1280, durationSeconds: 8, mediaType: 'VIDEO' });
    expect(result.source.kind === 'url' && result.source.headers).toBeFalsy();
  });
});

describe('sora-ui emulator extras', () => {
  const auth = () => ({ authorization: `Bearer ${emu.token}` });

  it('lists tasks with filters and reports stats', async () => {
    await provider().submit(req({ model: 'gemini-2.5-flash-imagen' }), ctx());
    const list = (await (await fetch(`${emu.url}/api/video/tasks?page=1&pageSize=5&mediaType=IMAGE`, { headers: auth() })).json()) as { success: boolean; data: { tasks: Array<{ mediaType: string }>; total: number; page: number; pageSize: number } };
    expect(list.success).toBe(true);
    expect(list.data).toMatchObject({ page: 1, pageSize: 5 });
    expect(list.data.total).toBeGreaterThan(0);
    expect(list.data.tasks.every((t) => t.mediaType === 'IMAGE')).toBe(true);
    const stats = (await (await fetch(`${emu.url}/api/video/stats`, { headers: auth() })).json()) as { data: Record<string, number> };
    expect(Object.keys(stats.data).sort()).toEqual(['completed', 'failed', 'processing', 'queued', 'total']);
    expect((await fetch(`${emu.url}/api/video/stats`)).status).toBe(401);
  });

  it('validates the create request', async () => {
    const post = (body: unknown) => fetch(`${emu.url}/api/video/tasks`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const res = await post({ model: 'sora_video2' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ success: false, message: 'prompt is required', code: 'INVALID_PARAMS' });
    expect((await post({ prompt: 'x' })).status).toBe(400);
  });
});
