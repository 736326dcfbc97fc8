// tasks-api (seed 004) through the real server, with the upstream behind a path
// prefix (/svc) to prove relative result paths keep it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { fakeMp4 } from '../emulators/common.js';
import { DEFAULT_FAIL_MESSAGE, startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';
import { PNG_DATA_URL, cancel, countDuring, create, createOk, expectStoredBytes, providerEntry, run, watchUntil } from './helpers.js';

const TASKS = '/svc/api/tasks/';
let emu: TasksApiEmulator;
let t: TestApp;
const creates = () => emu.createRequests;
const deletes = (id: string) => emu.server.requests.filter((r) => r.method === 'DELETE' && r.path === `${TASKS}${id}`).length;

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  emu = await startTasksApiEmulator({ prefix: '/svc', processingAfterMs: 150, completeAfterMs: 500 });
  t = await startTestApp({
    providers: [
      { id: 'local', kind: 'local' },
      providerEntry('tasks', 'tasks-api', emu.baseUrl),
      providerEntry('tasks-hang', 'tasks-api', emu.baseUrl, { requestTimeoutMs: 500 }),
      providerEntry('tasks-short', 'tasks-api', emu.baseUrl, { timeoutMs: 2000 }),
    ],
    defaultProvider: 'tasks',
  });
});
afterAll(async () => {
  await t?.stop();
  await emu?.close();
});
afterEach(() => emu.server.faults.clear());

describe('tasks-api end to end', () => {
  it('text-to-video: COMPLETED; the relative result path is resolved under baseUrl; stored bytes match', async () => {
    const { final, values } = await run(t, { prompt: '一只猫在海边散步' });
    const taskId = final.providerTaskId!;
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);
    expect(emu.tasks.get(taskId)!.prompt).toBe('一只猫在海边散步');
    expect(emu.server.requests.find((r) => r.method === 'POST' && r.path === TASKS)!.json).toEqual({ prompt: '一只猫在海边散步' });
    expect(final.upstreamStatus).toBe('completed');
    expect(final.result!.upstreamUrl).toBe(`${emu.url}/svc/videos/${taskId}_final.mp4`);
    await expectStoredBytes(t, final, fakeMp4(taskId));
    expect(values.filter((v) => v.status === 'PROCESSING').map((v) => v.upstreamStatus)).toContain('processing');
    expect(values.filter((v) => v.status !== 'COMPLETED').every((v) => v.progress === null)).toBe(true);
  });

  it('an upstream failure ends FAILED with the upstream message', async () => {
    const { final } = await run(t, { prompt: 'Broken [fail]' });
    expect(final).toMatchObject({ status: 'FAILED', upstreamStatus: 'failed', error: { code: 'UPSTREAM_FAILED', message: DEFAULT_FAIL_MESSAGE } });
  });

  it('cancel: CANCELLED, and the upstream task is deleted (DELETE /api/tasks/{id})', async () => {
    const id = await createOk(t, { prompt: 'Long [never]' });
    const w = await watchUntil(t, id, (v) => v.status === 'PROCESSING' && v.providerTaskId !== null);
    const taskId = w.hit.providerTaskId!;
    expect(await cancel(t, id)).toMatchObject({ __typename: 'CancelTaskSuccess', task: { status: 'CANCELLED' } });
    expect((await w.end()).status).toBe('CANCELLED');
    await until(() => deletes(taskId) === 1);
    expect(emu.deleted).toContain(taskId);
  });

  it('503 then 429 on submit: COMPLETED after exactly 3 create requests', async () => {
    emu.server.faults.add({ match: `POST ${TASKS}`, fault: { type: 'status', status: 503 }, times: 1 });
    emu.server.faults.add({ match: `POST ${TASKS}`, fault: { type: 'status', status: 429 }, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Busy' }));
    expect(value.final.status).toBe('COMPLETED');
    expect(delta).toBe(3);
  });

  it.each([
    ['hang', { type: 'hang' } as const],
    ['reset', { type: 'reset' } as const],
    ['malformed 2xx', { type: 'malformed' } as const],
  ])('a submission that may have created a task (%s) fails UPSTREAM_UNCERTAIN after ONE create', async (_name, fault) => {
    emu.server.faults.add({ match: `POST ${TASKS}`, fault, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Maybe', provider: 'tasks-hang' }));
    expect(value.final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_UNCERTAIN' } });
    expect(delta).toBe(1);
  });

  it('a 422 on submit is permanent: FAILED with the upstream message, not retried', async () => {
    const detail = [{ type: 'string_too_short', loc: ['body', 'prompt'], msg: 'String should have at least 1 character' }];
    emu.server.faults.add({ match: `POST ${TASKS}`, fault: { type: 'status', status: 422, body: { detail } }, times: 1 });
    const { value, delta } = await countDuring(creates, () => run(t, { prompt: 'Refused' }));
    expect(value.final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_HTTP_422', message: 'body.prompt: String should have at least 1 character' } });
    expect(delta).toBe(1);
  });

  it('500s and malformed JSON while polling are not failures: still COMPLETED', async () => {
    emu.server.faults.add({ match: `GET ${TASKS}`, fault: { type: 'status', status: 500 }, times: 1 });
    emu.server.faults.add({ match: `GET ${TASKS}`, fault: { type: 'malformed' }, times: 1 });
    const { final } = await run(t, { prompt: 'Flaky' });
    expect(final.status).toBe('COMPLETED');
    await expectStoredBytes(t, final, fakeMp4(final.providerTaskId!));
  });

  it('a vanished upstream task fails UPSTREAM_TASK_NOT_FOUND', async () => {
    const { final } = await run(t, { prompt: 'Poof [vanish]' });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'UPSTREAM_TASK_NOT_FOUND' } });
  });

  it('a task that never finishes fails TIMEOUT (and is deleted upstream)', async () => {
    const { final } = await run(t, { prompt: 'Forever [never]', provider: 'tasks-short' });
    expect(final).toMatchObject({ status: 'FAILED', error: { code: 'TIMEOUT' } });
    await until(() => deletes(final.providerTaskId!) === 1);
  });

  it.each([
    ['image', { image: { base64: PNG_DATA_URL } }],
    ['negativePrompt', { negativePrompt: 'blurry' }],
    ['seed', { seed: 1 }],
    ['durationSeconds', { durationSeconds: 5 }],
    ['aspectRatio', { aspectRatio: '16:9' }],
  ])('refuses %s before anything is stored or sent', async (field, extra) => {
    const before = creates();
    expect(await create(t, { prompt: 'Nope', ...extra })).toMatchObject({ __typename: 'UnsupportedError', code: 'UNSUPPORTED', field });
    await new Promise((r) => setTimeout(r, 300));
    expect(creates()).toBe(before);
  });
});
