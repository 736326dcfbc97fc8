// videogen-v1 (seed 000) through the real server: GraphQL over HTTP, graphql-ws, /files, PGlite.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { fakeMp4 } from '../emulators/common.js';
import { DEFAULT_FAIL_MESSAGE, startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';
import { PNG_DATA_URL, cancel, countDuring, create, createOk, expectStoredBytes, providerEntry, read, run, startImageServer, watchUntil } from './helpers.js';
import { SAMPLE_VIDEO } from '../emulators/media.js';

const TASKS = '/api/v1/videos/tasks';
let emu: VideogenV1Emulator;
let images: Awaited<ReturnType<typeof startImageServer>>;
let t: TestApp;
const creates = () => emu.createRequests;

beforeAll(async () => {
  emu = await startVideogenV1Emulator({ processingAfterMs: 150, completeAfterMs: 500, apiKey: 'vg-key' });
  images = await startImageServer();
  t = await startTestApp({
    providers: [
      { id: 'local', kind: 'local' },
      providerEntry('vg', 'videogen-v1', emu.url, { apiKey: 'vg-key' }),
      providerEntry('vg-data', 'videogen-v1', emu.url, { apiKey: 'vg-key', options: { acceptDataUrl: true } }),
      providerEntry('vg-hang', 'videogen-v1', emu.url, { apiKey: 'vg-key', requestTimeoutMs: 500 }),
      providerEntry('vg-short', 'videogen-v1', emu.url, { apiKey: 'vg-key', timeoutMs: 2000 }),
    ],
    defaultProvider: 'vg',
  });
});
afterAll(async () => {
  await t?.stop();
  await emu?.close();
  await images?.close();
});
afterEach(() => emu.server.faults.clear());

describe('videogen-v1 end to end', () => {
  it('text-to-video: COMPLETED, the stored bytes are the upstream video', async () => {
    const { id, final, values } = await run(t, { prompt: 'A lighthouse at dusk' });
    const upstreamId = final.providerTaskId!;
    expect(upstreamId).toMatch(/^task_/);
    expect(emu.created).toContain(upstreamId);
    expect(final.upstreamStatus).toBe('completed');
    expect(final.result!.upstreamUrl).toBe(emu.videoUrl(upstreamId));
    await expectStoredBytes(t, final, fakeMp4(upstreamId));
    // Not a real MP4 for ffprobe: duration and size come from the upstream's result.
    // The upstream claims 1920x1080 and 5 s; the stored facts are the file's own (ffprobe).
    expect(final.result).toMatchObject({ durationSeconds: SAMPLE_VIDEO.durationSeconds, width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height });
    // The subscription showed the upstream's own words while it ran; no numeric progress.
    const words = values.filter((v) => v.status === 'PROCESSING').map((v) => v.upstreamStatus);
    expect(words).toContain('processing');
    expect(values.every((v) => v.progress === null || v.status === 'COMPLETED')).toBe(true);
    expect((await read(t, id)).events!.at(-1)!.status).toBe('COMPLETED');
  });

  it('image-to-video with image.url: the upstream gets the URL as is', async () => {
    const url = images.url('dog.png');
    const { final } = await run(t, { prompt: 'The dog wags its tail', image: { url } });
    expect(final.status).toBe('COMPLETED');
    expect(emu.tasks.get(final.providerTaskId!)!.imageUrl).toBe(url);
    await expectStoredBytes(t, final, fakeMp4(final.providerTaskId!));
  });

  it('image-to-video with image.base64: refused without acceptDataUrl, sent inline with it', async () => {
    const { value: refused, delta } = await countDuring(creates, () => create(t, { prompt: 'Waves', image: { base64: PNG_DATA_URL } }));
    expect(refused).toMatchObject({ __typename: 'UnsupportedError', code: 'UNSUPPORTED', field: 'image' });
    expect(delta).toBe(0);

    const { final } = await run(t, { prompt: 'Waves', provider: 'vg-data', image: { base64: PNG_DATA_URL } });
    expect(final.status).toBe('COMPLETED');
    expect(emu.tasks.get(final.providerTaskId!)!.imageUrl).toBe(PNG_DATA_URL);
  });

  it('an upstream failure ends FAILED with the upstream message', async () => {
    const { final } = await run(t, { prompt: 'Please [fail] this one' });
    expect(final).toMatchObject({ status: 'FAILED', upstreamStatus: 'failed', error: { code: 'UPSTREAM_FAILED', message: DEFAULT_FAIL_MESSAGE } });
    expect(final.result).toBeNull();
  });

  it('cancel without an upstream cancel still ends CANCELLED locally and stops polling', async () => {
    const id = await createOk(t, { prompt: 'A long one [never]' });
    const w = await watchUntil(t, id, (v) => v.status === 'PROCESSING' && v.providerTaskId !== null);
    const upstreamId = w.hit.providerTaskId!;
    expect(await cancel(t, id)).toMatchObject({ __typename: 'CancelTaskSuccess', task: { status: 'CANCELLED' } });
    expect((await w.end()).status).toBe('CANCELLED');
    // The runner hears of the cancel through the same notification as the subscriber:
    // count polls once it has let go of the task (a poll sent in that window is not "after").
    for (let i = 0; i < 100 && t.app.runner!.activeTaskIds.includes(id); i++) await new Promise((r) => setTimeout(r, 50));
    expect(t.app.runner!.activeTaskIds).not.toContain(id);
    const polls = () => emu.server.requests.filter((r) => r.path === `${TASKS}/${upstreamId}`).length;
    const before = polls();
    await new Promise((r) => setTimeout(r, 500));
    expect(polls()).toBe(before);
    expect(emu.server.requests.some((r) => r.method !== 'GET' && r.path.startsWith(`${TASKS}/`))).toBe(false);
    expect((await read(t, id)).status).toBe('CANCELLED');
  });

  it('503 then 429 on submit are retried: COMPLETED after exactly 3 create requests', async () => {
    emu.server.faults.add({ match: `POST ${TASKS}`, fault: { type: 'status', status: 503 }, times: 1 });
    emu.server.faults.add({ match: `POST ${TASKS}`, fault: { type: 'status', status: 429, headers: { 'retry-after': '0' } }, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Busy upstream' }));
    expect(value.final.status).toBe('COMPLETED');
    expect(delta).toBe(3);
    expect(value.final.attempts).toBe(3);
  });

  it.each([
    ['hang', { type: 'hang' } as const],
    ['reset', { type: 'reset' } as const],
    ['500', { type: 'status', status: 500 } as const],
    ['malformed 2xx', { type: 'malformed' } as const],
  ])('a submission that may have created a task (%s) fails UPSTREAM_UNCERTAIN after ONE create', async (_name, fault) => {
    emu.server.faults.add({ match: `POST ${TASKS}`, fault, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Maybe created', provider: 'vg-hang' }));
    expect(value.final.status).toBe('FAILED');
    expect(value.final.error!.code).toBe('UPSTREAM_UNCERTAIN');
    expect(delta).toBe(1);
  });

  it('500s and malformed JSON while polling are not failures: still COMPLETED', async () => {
    emu.server.faults.add({ match: `GET ${TASKS}/`, fault: { type: 'status', status: 500 }, times: 1 });
    emu.server.faults.add({ match: `GET ${TASKS}/`, fault: { type: 'malformed' }, times: 1 });
    const { final } = await run(t, { prompt: 'Flaky status endpoint' });
    expect(final.status).toBe('COMPLETED');
    await expectStoredBytes(t, final, fakeMp4(final.providerTaskId!));
    const polls = emu.server.requests.filter((r) => r.method === 'GET' && r.path === `${TASKS}/${final.providerTaskId}`);
    expect(polls.length).toBeGreaterThanOrEqual(3);
  });

  it('a vanished upstream task fails UPSTREAM_TASK_NOT_FOUND', async () => {
    const { final } = await run(t, { prompt: 'Now you see me [vanish]' });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_TASK_NOT_FOUND' } });
  });

  it('a task that never finishes fails TIMEOUT after timeoutMs', async () => {
    const { final } = await run(t, { prompt: 'Forever [never]', provider: 'vg-short' });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'TIMEOUT' } });
  });

  it.each([
    ['negativePrompt', { negativePrompt: 'blurry' }],
    ['seed', { seed: 1 }],
    ['durationSeconds', { durationSeconds: 5 }],
    ['width', { width: 640, height: 480 }],
  ])('refuses %s before anything is stored or sent', async (field, extra) => {
    const before = creates();
    expect(await create(t, { prompt: 'Nope', ...extra })).toMatchObject({ __typename: 'UnsupportedError', code: 'UNSUPPORTED', field });
    await new Promise((r) => setTimeout(r, 300));
    expect(creates()).toBe(before);
  });

  it('sends the configured API key to the upstream', () => {
    const calls = emu.server.requests.filter((r) => r.path.startsWith(TASKS));
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.every((r) => r.headers.authorization === 'Bearer vg-key')).toBe(true);
  });
});
