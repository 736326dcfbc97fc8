// "Never pay twice", for kinds that can list their tasks: when the answer to a
// submission is lost after the upstream created the task, reelay finds that
// task in the upstream's list (created since it was sent) and carries on with
// it instead of failing or submitting again; when the list cannot say when a
// task was created, it adopts nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSoraUiEmulator, type SoraUiEmulator } from '../emulators/sora-ui.js';
import { startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { providerEntry, run } from './helpers.js';

describe('finding a submission whose answer was lost', () => {
  let tasksApi: TasksApiEmulator;
  let sora: SoraUiEmulator;
  let t: TestApp;

  beforeAll(async () => {
    tasksApi = await startTasksApiEmulator({ processingAfterMs: 50, completeAfterMs: 300 });
    sora = await startSoraUiEmulator();
    t = await startTestApp({
      providers: [
        // The emulator writes naive UTC times, as the documented API does.
        providerEntry('tasks', 'tasks-api', tasksApi.baseUrl, { requestTimeoutMs: 1500, options: { createdAtZone: 'Z' } }),
        providerEntry('tasks-naive', 'tasks-api', tasksApi.baseUrl, { requestTimeoutMs: 1500 }),
        providerEntry('sora', 'sora-ui', sora.url, { apiKey: sora.token, requestTimeoutMs: 1500 }),
      ],
      defaultProvider: 'tasks',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await tasksApi?.close();
    await sora?.close();
  });

  it('tasks-api: adopts the created task when the answer is lost, never one reelay already tracks', async () => {
    const prompt = 'Adopt me after a dropped answer';
    const earlier = await run(t, { prompt, provider: 'tasks' });
    expect(earlier.final.status).toBe('COMPLETED');
    const before = tasksApi.createRequests;
    tasksApi.server.faults.add({ match: 'POST /api/tasks/', fault: { type: 'drop' }, times: 1 });
    const { final } = await run(t, { prompt, provider: 'tasks' });
    expect(final.status).toBe('COMPLETED');
    expect(tasksApi.createRequests - before).toBe(1);
    expect(tasksApi.tasks.has(final.providerTaskId!)).toBe(true);
    expect(final.providerTaskId).not.toBe(earlier.final.providerTaskId);
  });

  it('tasks-api without a declared zone: adopts nothing it cannot date, and fails UPSTREAM_UNCERTAIN without resubmitting', async () => {
    const before = tasksApi.createRequests;
    tasksApi.server.faults.add({ match: 'POST /api/tasks/', fault: { type: 'drop' }, times: 1 });
    const { final } = await run(t, { prompt: 'An answer lost upstream of naive times', provider: 'tasks-naive' });
    expect(final.status).toBe('FAILED');
    expect(final.error).toMatchObject({ code: 'UPSTREAM_UNCERTAIN', message: expect.stringMatching(/lists no such task yet.*did not submit it again/) });
    expect(tasksApi.createRequests - before).toBe(1);
  });

  it('sora-ui: adopts the created task when the answer is lost', async () => {
    const before = sora.createRequests;
    sora.server.faults.add({ match: 'POST /api/video/tasks', fault: { type: 'drop' }, times: 1 });
    const { final } = await run(t, { prompt: 'A sora task whose answer was lost', provider: 'sora' });
    expect(final.status).toBe('COMPLETED');
    expect(sora.createRequests - before).toBe(1);
  });

  it('a hang before anything was created still ends UPSTREAM_UNCERTAIN without a second submission', async () => {
    const before = tasksApi.createRequests;
    tasksApi.server.faults.add({ match: 'POST /api/tasks/', fault: { type: 'hang' }, times: 1 });
    const { final } = await run(t, { prompt: 'Hung submission', provider: 'tasks' });
    expect(final.status).toBe('FAILED');
    expect(final.error).toMatchObject({ code: 'UPSTREAM_UNCERTAIN', message: expect.stringMatching(/lists no such task yet.*did not submit it again/) });
    expect(tasksApi.createRequests - before).toBe(1);
  });
});
