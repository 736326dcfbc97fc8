// Contract tests of the lightx2v adapter against its emulator (seed 003).
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import { createLightx2vProvider, statusMap } from '../../src/providers/lightx2v/index.js';
import type { GenerationRequest, Provider, ProviderConfig, ResultSource, Snapshot } from '../../src/providers/types.js';
import { EmulatorServer, TINY_PNG, fakeMp4 } from '../emulators/common.js';
import { LIGHTX2V_FAIL_MESSAGE, type Lightx2vEmulator, type Lightx2vEmulatorOptions, startLightx2vEmulator } from '../emulators/lightx2v.js';

const TIMING = { processingAfterMs: 80, completeAfterMs: 400 };
let emu: Lightx2vEmulator;
let images: EmulatorServer;
let tmp: string;
const extra: Lightx2vEmulator[] = [];

beforeAll(async () => {
  emu = await startLightx2vEmulator(TIMING);
  images = new EmulatorServer();
  images.route('GET', '/cat.png', () => ({ body: TINY_PNG, headers: { 'content-type': 'image/png' } }));
  await images.listen();
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'reelay-lightx2v-'));
});
afterAll(async () => {
  await Promise.all([emu.close(), images.close(), ...extra.map((e) => e.close())]);
  await fsp.rm(tmp, { recursive: true, force: true });
});
afterEach(() => {
  emu.server.faults.clear();
  emu.neverFinish = false;
});

async function another(opts: Lightx2vEmulatorOptions): Promise<Lightx2vEmulator> {
  const e = await startLightx2vEmulator({ ...TIMING, ...opts });
  extra.push(e);
  return e;
}

function config(over: Partial<ProviderConfig> = {}, on: Lightx2vEmulator = emu): ProviderConfig {
  return { id: 'lx', kind: 'lightx2v', baseUrl: on.url, models: [], maxConcurrency: 1, pollIntervalMs: 50, timeoutMs: 60_000, requestTimeoutMs: 2000, fallback: [], allowHosts: ['127.0.0.1'], options: {}, ...over }; // the image emulator is on loopback
}
const provider = (over: Partial<ProviderConfig> = {}, on: Lightx2vEmulator = emu): Provider => createLightx2vProvider(config(over, on), { workDir: tmp });
const ctx = () => ({ signal: new AbortController().signal });
const req = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({ taskId: 'task-1', prompt: 'A white cat sitting by the beach', ...over });
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

async function download(source: ResultSource): Promise<Buffer> {
  if (source.kind !== 'url') throw new Error('expected a URL source');
  const res = await fetch(source.url, { headers: source.headers });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
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

describe('lightx2v adapter', () => {
  it('exports the status map and honest capabilities', () => {
    expect(statusMap).toMatchObject({ submitted: 'processing', running: 'processing', succeed: 'completed', failed: 'failed' });
    const p = provider();
    expect(p.capabilities).toMatchObject({ textToVideo: true, imageToVideo: true, cancel: false, progress: true, negativePrompt: true, seed: true, customSize: true, aspectRatios: [], models: [], resubmitSafe: false });
    expect(provider({ options: { stopEndpoint: true } }).capabilities.cancel).toBe(true);
    expect(() => provider({ options: { inferSteps: 'many' } })).toThrow(/invalid options/);
  });

  it('text to video: JSON submission with the documented defaults, progress, result via /result', async () => {
    const p = provider();
    const request = req({ negativePrompt: 'blurry, low quality', seed: 42 });
    const out = await p.submit(request, ctx());
    expect(out.snapshot).toMatchObject({ state: 'processing', upstreamStatus: 'submitted' });
    expect(emu.server.requests.filter((r) => r.path === '/v1/tasks/video').at(-1)?.json).toEqual({
      prompt: 'A white cat sitting by the beach',
      negative_prompt: 'blurry, low quality',
      seed: 42,
      infer_steps: 4,
      video_duration: 5,
      height: 480,
      width: 832,
      num_fragments: 1,
    });
    const seen: Snapshot[] = [];
    const result = completed(await pollUntilDone(p, out.providerTaskId, request, seen));
    const running = seen.filter((s) => s.state === 'processing' && s.upstreamStatus === 'running');
    expect(running.length).toBeGreaterThan(0);
    for (const s of running) if (s.state === 'processing') expect(s.progress).toBeGreaterThan(0), expect(s.progress).toBeLessThan(1);
    expect(result).toMatchObject({ mediaType: 'VIDEO', width: 832, height: 480, durationSeconds: 5 });
    expect(result.source).toEqual({ kind: 'url', url: `${emu.url}/v1/files/download/outputs/videos/${out.providerTaskId}.mp4` });
    expect((await download(result.source)).equals(fakeMp4(out.providerTaskId))).toBe(true);
  });

  it('image to video from a file uses the multipart form with image_file, negative_prompt and seed', async () => {
    const file = path.join(tmp, 'input.png');
    await fsp.writeFile(file, TINY_PNG);
    const p = provider({ options: { inferSteps: 8 } });
    const request = req({ image: { kind: 'file', path: file, contentType: 'image/png' }, negativePrompt: 'static', seed: 7, width: 640, height: 360, durationSeconds: 3 });
    const out = await p.submit(request, ctx());
    expect(emu.server.requests.some((r) => r.method === 'POST' && r.path === '/v1/tasks/video/form')).toBe(true);
    const task = emu.tasks.get(out.providerTaskId)!;
    expect(task).toMatchObject({ via: 'form', negativePrompt: 'static', seed: 7, inferSteps: 8, width: 640, height: 360, videoDuration: 3, imagePath: null });
    expect(task.imageFile).toMatchObject({ filename: 'input.png', contentType: 'image/png' });
    expect(task.imageFile!.bytes.equals(TINY_PNG)).toBe(true);
    const result = completed(await pollUntilDone(p, out.providerTaskId, request));
    expect(result).toMatchObject({ width: 640, height: 360, durationSeconds: 3 });
    expect((await download(result.source)).equals(fakeMp4(out.providerTaskId))).toBe(true);
  });

  it('image to video from a URL fetches the bytes and uploads them too', async () => {
    const out = await provider().submit(req({ image: { kind: 'url', url: `${images.url}/cat.png` } }), ctx());
    expect(emu.tasks.get(out.providerTaskId)!.imageFile?.bytes.equals(TINY_PNG)).toBe(true);
  });

  it('accepts a result endpoint that streams the video itself', async () => {
    const e = await another({ resultMode: 'stream' });
    const p = provider({}, e);
    const out = await p.submit(req(), ctx());
    const result = completed(await pollUntilDone(p, out.providerTaskId, req()));
    expect(result.source).toEqual({ kind: 'url', url: `${e.url}/v1/tasks/${out.providerTaskId}/result` });
    expect((await download(result.source)).equals(fakeMp4(out.providerTaskId))).toBe(true);
  });

  it('uses a file path given by the status without asking /result', async () => {
    const e = await another({ resultMode: 'none', statusPathField: 'save_video_path' });
    const p = provider({}, e);
    const out = await p.submit(req(), ctx());
    const result = completed(await pollUntilDone(p, out.providerTaskId, req()));
    expect(e.server.requests.some((r) => r.path.endsWith('/result'))).toBe(false);
    expect((await download(result.source)).equals(fakeMp4(out.providerTaskId))).toBe(true);
  });

  it('without a result endpoint nor a path, the outcome is a readable permanent error', async () => {
    const e = await another({ resultMode: 'none' });
    const p = provider({}, e);
    const out = await p.submit(req(), ctx());
    expect(await failure(pollUntilDone(p, out.providerTaskId, req()))).toMatchObject({ code: 'UPSTREAM_NO_RESULT', retryable: false });
  });

  it('maps a failed task with the upstream message (keyword and programmatic)', async () => {
    const p = provider();
    const a = await p.submit(req({ prompt: 'too big [fail]' }), ctx());
    emu.failNext('model weights missing');
    const b = await p.submit(req(), ctx());
    expect(await pollUntilDone(p, a.providerTaskId, req())).toEqual({ state: 'failed', code: 'UPSTREAM_FAILED', message: LIGHTX2V_FAIL_MESSAGE, upstreamStatus: 'failed' });
    expect(await pollUntilDone(p, b.providerTaskId, req())).toMatchObject({ state: 'failed', message: 'model weights missing' });
  });

  it('cancel is a no-op by default and DELETE /v1/tasks/{id} with options.stopEndpoint', async () => {
    const out = await provider().submit(req({ prompt: 'forever [never]' }), ctx());
    await provider().cancel(out.providerTaskId, ctx());
    expect(emu.server.requests.some((r) => r.method === 'DELETE')).toBe(false);
    const p = provider({ options: { stopEndpoint: true } });
    await p.cancel(out.providerTaskId, ctx());
    expect(await p.poll(out.providerTaskId, { ...ctx(), request: req() })).toMatchObject({ state: 'cancelled', upstreamStatus: 'cancelled' });
  });

  it('a vanished task is UPSTREAM_TASK_NOT_FOUND (keyword and programmatic)', async () => {
    const p = provider();
    const a = await p.submit(req({ prompt: 'gone [vanish]' }), ctx());
    await p.poll(a.providerTaskId, { ...ctx(), request: req() });
    expect(await failure(p.poll(a.providerTaskId, { ...ctx(), request: req() }))).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND', retryable: false, message: `upstream task ${a.providerTaskId} no longer exists` });
    const b = await p.submit(req(), ctx());
    emu.vanish(b.providerTaskId);
    expect(await failure(p.poll(b.providerTaskId, { ...ctx(), request: req() }))).toMatchObject({ code: 'UPSTREAM_TASK_NOT_FOUND' });
  });

  it('a validation error (422) is permanent with a readable message', async () => {
    const err = await failure(provider().submit(req({ prompt: '' }), ctx()));
    expect(err).toMatchObject({ status: 422, retryable: false, maybeCreated: false, message: 'body.prompt: Field required' });
  });

  it('503 and 429 on submit are retryable refusals: nothing was created', async () => {
    const p = provider();
    emu.server.faults.add({ match: 'POST /v1/tasks/video', fault: { type: 'status', status: 503, body: { detail: 'queue full' } }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ retryable: true, maybeCreated: false, message: 'queue full' });
    emu.server.faults.add({ match: 'POST /v1/tasks/video/form', fault: { type: 'status', status: 429 }, times: 1 });
    expect(await failure(p.submit(req({ image: { kind: 'url', url: `${images.url}/cat.png` } }), ctx()))).toMatchObject({ retryable: true, maybeCreated: false });
  });

  it('no answer after sending (hang, reset) may have created the task', async () => {
    const p = provider({ requestTimeoutMs: 250 });
    emu.server.faults.add({ match: 'POST /v1/tasks/video', fault: { type: 'hang' }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ code: 'UPSTREAM_TIMEOUT', retryable: true, maybeCreated: true });
    emu.server.faults.add({ match: 'POST /v1/tasks/video', fault: { type: 'reset' }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ retryable: true, maybeCreated: true });
  });

  it('malformed JSON is UPSTREAM_MALFORMED; 500 on poll is retryable', async () => {
    const p = provider();
    emu.server.faults.add({ match: 'POST /v1/tasks/video', fault: { type: 'malformed' }, times: 1 });
    expect(await failure(p.submit(req(), ctx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', retryable: true, maybeCreated: true });
    const out = await p.submit(req(), ctx());
    emu.server.faults.add({ match: `GET /v1/tasks/${out.providerTaskId}/status`, fault: { type: 'status', status: 500 }, times: 1 });
    expect(await failure(p.poll(out.providerTaskId, { ...ctx(), request: req() }))).toMatchObject({ retryable: true, status: 500 });
    emu.server.faults.add({ match: `GET /v1/tasks/${out.providerTaskId}/status`, fault: { type: 'malformed' }, times: 1 });
    expect(await failure(p.poll(out.providerTaskId, { ...ctx(), request: req() }))).toMatchObject({ code: 'UPSTREAM_MALFORMED', retryable: true });
  });

  it('accepts the LightX2V server vocabulary (task_status, completed, save_result_path) and rejects unknown words', async () => {
    const p = provider({ apiKey: 'proxy-key' });
    const fake = (body: unknown) => emu.server.faults.add({ match: 'GET /v1/tasks/abc/status', fault: { type: 'status', status: 200, body }, times: 1 });
    fake({ task_id: 'abc', task_status: 'processing', progress: 40 });
    expect(await p.poll('abc', { ...ctx(), request: req() })).toMatchObject({ state: 'processing', progress: 0.4, upstreamStatus: 'processing' });
    fake({ task_id: 'abc', status: 'completed', save_result_path: 'abc.mp4' });
    const result = completed(await p.poll('abc', { ...ctx(), request: req() }));
    expect(result.source).toEqual({ kind: 'url', url: `${emu.url}/v1/files/download/abc.mp4`, headers: { authorization: 'Bearer proxy-key' } });
    fake({ task_id: 'abc', status: 'exploded' });
    expect(await failure(p.poll('abc', { ...ctx(), request: req() }))).toMatchObject({ code: 'UPSTREAM_UNKNOWN_STATUS', retryable: true });
  });
});
