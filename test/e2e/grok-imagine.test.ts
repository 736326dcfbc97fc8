// grok-imagine (seed 001) through the real server: one synchronous call per task.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { fakeMp4 } from '../emulators/common.js';
import { GROK_MODEL, NO_VIDEO_URL_MESSAGE, grokErrorBody, startGrokImagineEmulator, type GrokImagineEmulator } from '../emulators/grok-imagine.js';
import { PNG_DATA_URL, cancel, countDuring, create, createOk, expectStoredBytes, providerEntry, run, startImageServer, watchUntil } from './helpers.js';

const PATH = '/v1/videos/generations';
let emu: GrokImagineEmulator;
let images: Awaited<ReturnType<typeof startImageServer>>;
let t: TestApp;
let image: { url: string };
const creates = () => emu.createRequests;
const lastBody = () => emu.server.requests.filter((r) => r.method === 'POST' && r.path === PATH).at(-1)!.json as Record<string, unknown>;

beforeAll(async () => {
  emu = await startGrokImagineEmulator({ apiKey: 'grok-key', delayMs: 300 });
  images = await startImageServer();
  image = { url: images.url('portrait.png') };
  t = await startTestApp({
    providers: [
      { id: 'local', kind: 'local' },
      providerEntry('grok', 'grok-imagine', emu.url, { apiKey: 'grok-key' }),
      providerEntry('grok-badkey', 'grok-imagine', emu.url, { apiKey: 'not-the-key' }),
      providerEntry('grok-hang', 'grok-imagine', emu.url, { apiKey: 'grok-key', requestTimeoutMs: 500 }),
      providerEntry('grok-short', 'grok-imagine', emu.url, { apiKey: 'grok-key', timeoutMs: 2000 }),
    ],
    defaultProvider: 'grok',
  });
});
afterAll(async () => {
  await t?.stop();
  await emu?.close();
  await images?.close();
});
afterEach(() => emu.server.faults.clear());

describe('grok-imagine end to end', () => {
  it('image.url: PROCESSING without progress during the call, then COMPLETED with the upstream bytes', async () => {
    const { final, values } = await run(t, { prompt: '让图片中的人物挥手微笑', image });
    const upstreamId = final.providerTaskId!;
    expect(upstreamId).toMatch(/^video-\d+/);
    expect(emu.generations.get(upstreamId)).toMatchObject({ imageUrl: image.url, model: GROK_MODEL, prompt: '让图片中的人物挥手微笑' });
    expect(lastBody()).toEqual({ image_url: image.url, prompt: '让图片中的人物挥手微笑', model: GROK_MODEL });
    expect(final.upstreamStatus).toBe('completed');
    expect(final.result!.upstreamUrl).toBe(emu.videoUrl(upstreamId));
    await expectStoredBytes(t, final, fakeMp4(upstreamId));
    // Synchronous upstream: no upstream id and no progress until the answer arrives.
    const running = values.filter((v) => v.status === 'PROCESSING');
    expect(running.length).toBeGreaterThan(0);
    expect(running.every((v) => v.progress === null)).toBe(true);
  });

  it('image.base64: the upstream gets a data: URL', async () => {
    const { final } = await run(t, { prompt: 'Slow zoom', image: { base64: PNG_DATA_URL } });
    expect(final.status).toBe('COMPLETED');
    expect(emu.generations.get(final.providerTaskId!)!.imageUrl).toBe(PNG_DATA_URL);
  });

  it('no image: UnsupportedError, nothing sent upstream', async () => {
    const before = creates();
    expect(await create(t, { prompt: 'Text only' })).toMatchObject({ __typename: 'UnsupportedError', code: 'UNSUPPORTED', field: 'image' });
    expect(await create(t, { prompt: 'x', image, negativePrompt: 'blurry' })).toMatchObject({ __typename: 'UnsupportedError', field: 'negativePrompt' });
    expect(await create(t, { prompt: 'x', image, model: 'grok-2' })).toMatchObject({ __typename: 'UnsupportedError', field: 'model' });
    await new Promise((r) => setTimeout(r, 300));
    expect(creates()).toBe(before);
  });

  it('[fail]: the documented 500 no_video_url fails the task with its code and message, not retried', async () => {
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Wave [fail]', image }));
    expect(value.final).toMatchObject({ status: 'FAILED', error: { code: 'no_video_url', message: NO_VIDEO_URL_MESSAGE } });
    expect(delta).toBe(1);
  });

  it('documented invalid_image_url (400) surfaces as the error code', async () => {
    emu.server.faults.add({ match: `POST ${PATH}`, fault: { type: 'status', status: 400, body: grokErrorBody('图片URL不能为空', 'validation_error', 'invalid_image_url') }, times: 1 });
    const { final } = await run(t, { prompt: 'Bad image', image });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'invalid_image_url', message: '图片URL不能为空' } });
  });

  it('a wrong API key: FAILED unauthorized with the upstream message', async () => {
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Who am I', provider: 'grok-badkey', image }));
    expect(value.final).toMatchObject({ status: 'FAILED', error: { code: 'unauthorized', message: '未授权访问' } });
    expect(delta).toBe(1);
  });

  it('HTTP_ERROR: final for a 403 from Grok, retried for a 429 from Grok', async () => {
    const blocked = grokErrorBody('请求失败: 403 - 您的IP被拦截，请尝试以下方法之一: 1.更换IP 2.使用代理 3.配置CF值', 'HTTP_ERROR', 'HTTP_ERROR');
    emu.server.faults.add({ match: `POST ${PATH}`, fault: { type: 'status', status: 500, body: blocked }, times: 1 });
    const first = await countDuring(creates, () => run(t, { prompt: 'Blocked', image }));
    expect(first.value.final).toMatchObject({ status: 'FAILED', error: { code: 'HTTP_ERROR' } });
    expect(first.value.final.error!.message).toContain('403');
    expect(first.delta).toBe(1);

    const limited = grokErrorBody('请求失败: 429 - Too Many Requests', 'HTTP_ERROR', 'HTTP_ERROR');
    emu.server.faults.add({ match: `POST ${PATH}`, fault: { type: 'status', status: 500, body: limited }, times: 1 });
    const second = await countDuring(creates, () => run(t, { prompt: 'Limited', image }));
    expect(second.value.final.status).toBe('COMPLETED');
    expect(second.delta).toBe(2);
  });

  it('503 then 429 on submit: COMPLETED after exactly 3 requests', async () => {
    emu.server.faults.add({ match: `POST ${PATH}`, fault: { type: 'status', status: 503 }, times: 1 });
    emu.server.faults.add({ match: `POST ${PATH}`, fault: { type: 'status', status: 429 }, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Busy', image }));
    expect(value.final.status).toBe('COMPLETED');
    expect(delta).toBe(3);
  });

  it.each([
    ['hang', { type: 'hang' } as const],
    ['reset', { type: 'reset' } as const],
    ['500 internal_server_error', { type: 'status', status: 500, body: grokErrorBody('服务器内部错误', 'internal_error', 'internal_server_error') } as const],
  ])('a call that may have generated (%s) fails UPSTREAM_UNCERTAIN after ONE request', async (_name, fault) => {
    emu.server.faults.add({ match: `POST ${PATH}`, fault, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Maybe billed', provider: 'grok-hang', image }));
    expect(value.final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_UNCERTAIN' } });
    expect(delta).toBe(1);
  });

  it('[vanish]: the video URL expired before the download: DOWNLOAD_FAILED', async () => {
    const { final } = await run(t, { prompt: 'Gone [vanish]', image });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'DOWNLOAD_FAILED' } });
    expect(final.providerTaskId).toMatch(/^video-/);
  });

  it('[never]: a call that never answers fails TIMEOUT after timeoutMs', async () => {
    const { final } = await run(t, { prompt: 'Forever [never]', provider: 'grok-short', image });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'TIMEOUT' } });
  });

  it('cancel during the call ends CANCELLED locally (no upstream cancel exists)', async () => {
    const id = await createOk(t, { prompt: 'Too slow [never]', image });
    const w = await watchUntil(t, id, (v) => v.status === 'PROCESSING');
    await new Promise((r) => setTimeout(r, 200));
    expect(await cancel(t, id)).toMatchObject({ __typename: 'CancelTaskSuccess', task: { status: 'CANCELLED' } });
    const final = await w.end();
    expect(final).toMatchObject({ status: 'CANCELLED', result: null, providerTaskId: null });
  });
});
