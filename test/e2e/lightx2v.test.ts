// lightx2v (seed 003) through the real server: GraphQL over HTTP, graphql-ws, /files, PGlite.
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { TINY_PNG, fakeMp4 } from '../emulators/common.js';
import { LIGHTX2V_FAIL_MESSAGE, startLightx2vEmulator, type Lightx2vEmulator } from '../emulators/lightx2v.js';
import { PNG_DATA_URL, cancel, countDuring, create, createOk, expectStoredBytes, providerEntry, run, startImageServer, watchUntil } from './helpers.js';
import { SAMPLE_VIDEO } from '../emulators/media.js';

const timing = { processingAfterMs: 150, completeAfterMs: 600 };
let emu: Lightx2vEmulator;
let emuStream: Lightx2vEmulator;
let emuStatusPath: Lightx2vEmulator;
let emuNoResult: Lightx2vEmulator;
let images: Awaited<ReturnType<typeof startImageServer>>;
let t: TestApp;
/** Create requests (JSON or form) that reached the server, faulted ones included. */
const creates = () => emu.server.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/tasks/video')).length;
const deletes = (id: string) => emu.server.requests.filter((r) => r.method === 'DELETE' && r.path === `/v1/tasks/${id}`).length;

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  [emu, emuStream, emuStatusPath, emuNoResult] = await Promise.all([
    startLightx2vEmulator(timing),
    startLightx2vEmulator({ ...timing, resultMode: 'stream' }),
    startLightx2vEmulator({ ...timing, resultMode: 'none', statusPathField: 'save_result_path' }),
    startLightx2vEmulator({ ...timing, resultMode: 'none' }),
  ]);
  images = await startImageServer();
  const stop = { options: { stopEndpoint: true } };
  t = await startTestApp({
    providers: [
      { id: 'local', kind: 'local' },
      providerEntry('lx', 'lightx2v', emu.url, stop),
      providerEntry('lx-nostop', 'lightx2v', emu.url),
      providerEntry('lx-stream', 'lightx2v', emuStream.url),
      providerEntry('lx-status', 'lightx2v', emuStatusPath.url),
      providerEntry('lx-none', 'lightx2v', emuNoResult.url),
      providerEntry('lx-hang', 'lightx2v', emu.url, { requestTimeoutMs: 500 }),
      providerEntry('lx-short', 'lightx2v', emu.url, { ...stop, timeoutMs: 2000 }),
    ],
    defaultProvider: 'lx',
  });
});
afterAll(async () => {
  await t?.stop();
  await Promise.all([emu, emuStream, emuStatusPath, emuNoResult].map((e) => e?.close()));
  await images?.close();
});
afterEach(() => emu.server.faults.clear());

describe('lightx2v end to end', () => {
  it('text-to-video (JSON): documented fields sent, live progress, stored bytes are the upstream video', async () => {
    // A running window of 1.5 s: a loaded machine still sees progress between 0 and 1 (at 450 ms it could miss it).
    Object.assign(emu, { processingAfterMs: 300, completeAfterMs: 1800 });
    onTestFinished(() => void Object.assign(emu, timing));
    const { final, values } = await run(t, { prompt: 'A white cat on the beach', negativePrompt: 'blurry', seed: 42, durationSeconds: 3, width: 640, height: 368 });
    const taskId = final.providerTaskId!;
    expect(emu.tasks.get(taskId)).toMatchObject({ via: 'json', prompt: 'A white cat on the beach', negativePrompt: 'blurry', seed: 42, videoDuration: 3, width: 640, height: 368, inferSteps: 4, numFragments: 1 });
    expect(final.upstreamStatus).toBe('succeed');
    expect(final.result!.upstreamUrl).toBe(`${emu.url}/v1/files/download/outputs/videos/${taskId}.mp4`);
    await expectStoredBytes(t, final, fakeMp4(taskId));
    // The stored facts are the file's own (ffprobe), not what was asked or claimed.
    expect(final.result).toMatchObject({ width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height, durationSeconds: SAMPLE_VIDEO.durationSeconds });
    const progress = values.filter((v) => v.status === 'PROCESSING').map((v) => v.progress).filter((p): p is number => p !== null);
    expect(progress.some((p) => p > 0 && p < 1)).toBe(true);
    expect(values.some((v) => v.upstreamStatus === 'running')).toBe(true);
  });

  it('an aspect ratio without a size becomes width/height', async () => {
    const [{ final }, square] = await Promise.all([run(t, { prompt: 'Portrait', aspectRatio: '9:16' }), run(t, { prompt: 'Square', aspectRatio: '1:1' })]);
    expect(emu.tasks.get(final.providerTaskId!)).toMatchObject({ width: 480, height: 832 });
    expect(final.result).toMatchObject({ width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height });
    expect(emu.tasks.get(square.final.providerTaskId!)).toMatchObject({ width: 832, height: 832 });
  });

  it.each([
    ['base64', () => ({ base64: PNG_DATA_URL })],
    ['url', () => ({ url: images.url('cat.png') })],
  ])('image-to-video (image.%s): sent as a multipart form with image_file', async (_name, image) => {
    const { final } = await run(t, { prompt: 'The cat walks', seed: 7, image: image() });
    expect(final.status).toBe('COMPLETED');
    const task = emu.tasks.get(final.providerTaskId!)!;
    expect(task).toMatchObject({ via: 'form', prompt: 'The cat walks', seed: 7, width: 832, height: 480, videoDuration: 5 });
    expect(task.imageFile).toMatchObject({ filename: 'input.png', contentType: 'image/png' });
    expect(task.imageFile!.bytes.equals(TINY_PNG)).toBe(true);
  });

  it('result lookup: a streaming /result endpoint, a path in the status, or nothing at all', async () => {
    const [stream, named, none] = await Promise.all([
      run(t, { prompt: 'Streamed', provider: 'lx-stream' }),
      run(t, { prompt: 'Named', provider: 'lx-status' }),
      run(t, { prompt: 'Lost', provider: 'lx-none' }),
    ]);
    expect(stream.final.result!.upstreamUrl).toBe(`${emuStream.url}/v1/tasks/${stream.final.providerTaskId}/result`);
    await expectStoredBytes(t, stream.final, fakeMp4(stream.final.providerTaskId!));

    expect(named.final.result!.upstreamUrl).toBe(`${emuStatusPath.url}/v1/files/download/outputs/videos/${named.final.providerTaskId}.mp4`);
    await expectStoredBytes(t, named.final, fakeMp4(named.final.providerTaskId!));

    expect(none.final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_NO_RESULT' } });
  });

  it('an upstream failure ends FAILED with the upstream message', async () => {
    const { final } = await run(t, { prompt: 'Too big [fail]' });
    expect(final).toMatchObject({ status: 'FAILED', upstreamStatus: 'failed', error: { code: 'UPSTREAM_FAILED', message: LIGHTX2V_FAIL_MESSAGE } });
  });

  it('cancel with options.stopEndpoint: CANCELLED and DELETE /v1/tasks/{id} sent', async () => {
    const id = await createOk(t, { prompt: 'Long [never]' });
    const w = await watchUntil(t, id, (v) => v.status === 'PROCESSING' && v.providerTaskId !== null);
    const taskId = w.hit.providerTaskId!;
    expect(await cancel(t, id)).toMatchObject({ __typename: 'CancelTaskSuccess', task: { status: 'CANCELLED' } });
    expect((await w.end()).status).toBe('CANCELLED');
    await until(() => deletes(taskId) === 1);
    expect(emu.statusOf(taskId)).toBe('cancelled');
  });

  it('cancel without stopEndpoint: CANCELLED locally, nothing sent upstream', async () => {
    const id = await createOk(t, { prompt: 'Long [never]', provider: 'lx-nostop' });
    const w = await watchUntil(t, id, (v) => v.status === 'PROCESSING' && v.providerTaskId !== null);
    const taskId = w.hit.providerTaskId!;
    expect(await cancel(t, id)).toMatchObject({ __typename: 'CancelTaskSuccess' });
    expect((await w.end()).status).toBe('CANCELLED');
    await new Promise((r) => setTimeout(r, 300));
    expect(deletes(taskId)).toBe(0);
    expect(emu.statusOf(taskId)).toBe('running');
  });

  it('503 then 429 on submit: COMPLETED after exactly 3 create requests', async () => {
    emu.server.faults.add({ match: 'POST /v1/tasks/video', fault: { type: 'status', status: 503 }, times: 1 });
    emu.server.faults.add({ match: 'POST /v1/tasks/video', fault: { type: 'status', status: 429 }, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Busy' }));
    expect(value.final.status).toBe('COMPLETED');
    expect(delta).toBe(3);
  });

  it.each([
    ['hang', { type: 'hang' } as const, {}],
    ['reset', { type: 'reset' } as const, {}],
    ['hang (multipart)', { type: 'hang' } as const, { image: { base64: PNG_DATA_URL } }],
  ])('a submission that may have created a task (%s) fails UPSTREAM_UNCERTAIN after ONE create', async (_name, fault, extra) => {
    emu.server.faults.add({ match: 'POST /v1/tasks/video', fault, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Maybe', provider: 'lx-hang', ...extra }));
    expect(value.final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_UNCERTAIN' } });
    expect(delta).toBe(1);
  });

  it('500s and malformed JSON while polling are not failures: still COMPLETED', async () => {
    emu.server.faults.add({ match: 'GET /v1/tasks/', fault: { type: 'status', status: 500 }, times: 1 });
    emu.server.faults.add({ match: 'GET /v1/tasks/', fault: { type: 'malformed' }, times: 1 });
    const { final } = await run(t, { prompt: 'Flaky' });
    expect(final.status).toBe('COMPLETED');
    await expectStoredBytes(t, final, fakeMp4(final.providerTaskId!));
  });

  it('a vanished upstream task fails UPSTREAM_TASK_NOT_FOUND', async () => {
    const { final } = await run(t, { prompt: 'Poof [vanish]' });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_TASK_NOT_FOUND' } });
  });

  it('a task that never finishes fails TIMEOUT (and is stopped upstream)', async () => {
    const { final } = await run(t, { prompt: 'Forever [never]', provider: 'lx-short' });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'TIMEOUT' } });
    await until(() => deletes(final.providerTaskId!) === 1);
  });

  it('refuses a duration out of 1–30 s before anything is stored or sent', async () => {
    const before = creates();
    expect(await create(t, { prompt: 'Nope', durationSeconds: 31 })).toMatchObject({ __typename: 'UnsupportedError', code: 'UNSUPPORTED', field: 'durationSeconds' });
    await new Promise((r) => setTimeout(r, 300));
    expect(creates()).toBe(before);
  });
});
