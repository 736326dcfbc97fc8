// sora-ui (seed 002) through the real server: GraphQL over HTTP, graphql-ws, /files, PGlite.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { TINY_PNG, fakeMp4 } from '../emulators/common.js';
import { SORA_UI_FAIL_MESSAGE, SORA_UI_TEST_TOKEN, startSoraUiEmulator, type SoraUiEmulator } from '../emulators/sora-ui.js';
import { PNG_DATA_URL, cancel, countDuring, create, createOk, expectStoredBytes, providerEntry, run, startImageServer, watchUntil } from './helpers.js';
import { SAMPLE_VIDEO } from '../emulators/media.js';

const TASKS = '/api/video/tasks';
let emu: SoraUiEmulator;
let images: Awaited<ReturnType<typeof startImageServer>>;
let t: TestApp;
/** Every create request that reached the server, faulted ones included. */
const creates = () => emu.server.requests.filter((r) => r.method === 'POST' && r.path === TASKS).length;
const cancelCalls = (videoId: string) => emu.server.requests.filter((r) => r.method === 'POST' && r.path === `${TASKS}/${videoId}/cancel`).length;

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  emu = await startSoraUiEmulator({ processingAfterMs: 150, completeAfterMs: 600 });
  images = await startImageServer();
  t = await startTestApp({
    providers: [
      { id: 'local', kind: 'local' },
      providerEntry('sora', 'sora-ui', emu.url, { apiKey: SORA_UI_TEST_TOKEN, models: ['sora_video3'] }),
      providerEntry('sora-badkey', 'sora-ui', emu.url, { apiKey: 'expired.jwt.token' }),
      providerEntry('sora-hang', 'sora-ui', emu.url, { apiKey: SORA_UI_TEST_TOKEN, requestTimeoutMs: 500 }),
      providerEntry('sora-short', 'sora-ui', emu.url, { apiKey: SORA_UI_TEST_TOKEN, timeoutMs: 2000 }),
    ],
    defaultProvider: 'sora',
  });
});
afterAll(async () => {
  await t?.stop();
  await emu?.close();
  await images?.close();
});
afterEach(() => emu.server.faults.clear());

describe('sora-ui end to end', () => {
  it('text-to-video: live 0–1 progress, COMPLETED, stored bytes are the upstream video', async () => {
    const { final, values } = await run(t, { prompt: 'A paper boat', durationSeconds: 4, width: 1280, height: 720, aspectRatio: '16:9' });
    const videoId = final.providerTaskId!;
    expect(videoId).toMatch(/^video_/);
    expect(emu.tasks.get(videoId)).toMatchObject({ model: 'sora_video2', duration: 4, size: '1280x720', aspectRatio: '16:9', referenceImage: null });
    expect(final.upstreamStatus).toBe('COMPLETED');
    expect(final.mediaType).toBe('VIDEO');
    expect(final.result!.upstreamUrl).toBe(`${emu.url}/v1/videos/${videoId}/content`);
    await expectStoredBytes(t, final, fakeMp4(videoId));
    // The upstream claims 1280x720 and 4 s; the stored facts are the file's own (ffprobe).
    expect(final.result).toMatchObject({ durationSeconds: SAMPLE_VIDEO.durationSeconds, width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height });
    const progress = values.filter((v) => v.status === 'PROCESSING').map((v) => v.progress).filter((p): p is number => p !== null);
    expect(progress.some((p) => p > 0 && p < 1)).toBe(true);
    expect(values.some((v) => v.upstreamStatus === 'PROCESSING')).toBe(true);
  });

  it('an image model gives an IMAGE result (PNG)', async () => {
    const { final } = await run(t, { prompt: 'A still life', model: 'gemini-2.5-flash-imagen' });
    expect(final.mediaType).toBe('IMAGE');
    await expectStoredBytes(t, final, TINY_PNG, 'image/png');
    expect(final.result!.durationSeconds).toBeNull();
  });

  it('a completed task without videoUrl is resolved through the content endpoint', async () => {
    const { final } = await run(t, { prompt: 'Quiet one [nourl]' });
    expect(final.status).toBe('COMPLETED');
    expect(emu.server.requests.some((r) => r.path === `${TASKS}/${final.providerTaskId}/content`)).toBe(true);
    await expectStoredBytes(t, final, fakeMp4(final.providerTaskId!));
  });

  it.each([
    ['base64', () => ({ base64: PNG_DATA_URL })],
    ['url', () => ({ url: images.url('ref.png') })],
  ])('image-to-video (image.%s): the upstream gets it as referenceImage', async (_name, image) => {
    const { final } = await run(t, { prompt: 'Animate this', image: image() });
    expect(final.status).toBe('COMPLETED');
    const ref = emu.tasks.get(final.providerTaskId!)!.referenceImage!;
    expect(ref.contentType).toBe('image/png');
    expect(ref.bytes.equals(TINY_PNG)).toBe(true);
  });

  it('an upstream failure ends FAILED with the upstream message', async () => {
    const { final } = await run(t, { prompt: 'Rejected [fail]' });
    expect(final).toMatchObject({ status: 'FAILED', upstreamStatus: 'FAILED', error: { code: 'UPSTREAM_FAILED', message: SORA_UI_FAIL_MESSAGE } });
  });

  it('upstream refusals keep their code: UPSTREAM_UNAUTHORIZED, UPSTREAM_INVALID_MODEL', async () => {
    const bad = await run(t, { prompt: 'Hello', provider: 'sora-badkey' });
    expect(bad.final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_UNAUTHORIZED', message: 'Unauthorized: invalid or missing token' } });
    const model = await run(t, { prompt: 'Hello', model: 'sora_video3' });
    expect(model.final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_INVALID_MODEL', message: 'unsupported model: sora_video3' } });
  });

  it('cancel: CANCELLED at once, and the upstream cancel endpoint is called', async () => {
    const id = await createOk(t, { prompt: 'Long take [never]' });
    const w = await watchUntil(t, id, (v) => v.status === 'PROCESSING' && v.providerTaskId !== null);
    const videoId = w.hit.providerTaskId!;
    expect(await cancel(t, id)).toMatchObject({ __typename: 'CancelTaskSuccess', task: { status: 'CANCELLED' } });
    expect((await w.end()).status).toBe('CANCELLED');
    await until(() => cancelCalls(videoId) === 1);
    expect(emu.statusOf(videoId)).toBe('CANCELLED');
  });

  it('503 then 429 on submit: COMPLETED after exactly 3 create requests', async () => {
    emu.server.faults.add({ match: `POST ${TASKS}`, fault: { type: 'status', status: 503 }, times: 1 });
    emu.server.faults.add({ match: `POST ${TASKS}`, fault: { type: 'status', status: 429, body: { success: false, message: 'slow down', code: 'RATE_LIMITED' } }, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Busy' }));
    expect(value.final.status).toBe('COMPLETED');
    expect(delta).toBe(3);
  });

  it.each([
    ['hang', { type: 'hang' } as const],
    ['reset', { type: 'reset' } as const],
    ['502', { type: 'status', status: 502 } as const],
  ])('a submission that may have created a task (%s) fails UPSTREAM_UNCERTAIN after ONE create', async (_name, fault) => {
    emu.server.faults.add({ match: `POST ${TASKS}`, fault, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Maybe', provider: 'sora-hang' }));
    expect(value.final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_UNCERTAIN' } });
    expect(delta).toBe(1);
  });

  it('500s and malformed JSON while polling are not failures: still COMPLETED', async () => {
    emu.server.faults.add({ match: `GET ${TASKS}/`, fault: { type: 'status', status: 500 }, times: 1 });
    emu.server.faults.add({ match: `GET ${TASKS}/`, fault: { type: 'malformed' }, times: 1 });
    const { final } = await run(t, { prompt: 'Flaky' });
    expect(final.status).toBe('COMPLETED');
    await expectStoredBytes(t, final, fakeMp4(final.providerTaskId!));
  });

  it('a vanished upstream task fails UPSTREAM_TASK_NOT_FOUND', async () => {
    const { final } = await run(t, { prompt: 'Poof [vanish]' });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_TASK_NOT_FOUND' } });
  });

  it('a task that never finishes fails TIMEOUT and is cancelled upstream', async () => {
    const { final } = await run(t, { prompt: 'Forever [never]', provider: 'sora-short' });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'TIMEOUT' } });
    await until(() => cancelCalls(final.providerTaskId!) === 1);
  });

  it.each([
    ['negativePrompt', { negativePrompt: 'blurry' }],
    ['seed', { seed: 3 }],
    ['durationSeconds', { durationSeconds: 61 }],
    ['aspectRatio', { aspectRatio: '4:3' }],
  ])('refuses %s before anything is stored or sent', async (field, extra) => {
    const before = creates();
    expect(await create(t, { prompt: 'Nope', ...extra })).toMatchObject({ __typename: 'UnsupportedError', code: 'UNSUPPORTED', field });
    await new Promise((r) => setTimeout(r, 300));
    expect(creates()).toBe(before);
  });
});
