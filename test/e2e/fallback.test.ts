// Routing and failover through the real server: model-based routing, and a
// provider refusing submissions hands the task to its fallback, recorded in
// the task's events; never to a provider lacking the needed capability.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';
import { startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { subscribe, wsClient } from '../support/ws.js';

describe('routing and fallback', () => {
  let primary: TasksApiEmulator;
  let backup: VideogenV1Emulator;
  let t: TestApp;

  beforeAll(async () => {
    primary = await startTasksApiEmulator({ processingAfterMs: 50, completeAfterMs: 200 });
    backup = await startVideogenV1Emulator({ processingAfterMs: 50, completeAfterMs: 200 });
    t = await startTestApp({
      env: { REELAY_MAX_ATTEMPTS: '2' },
      providers: [
        { id: 'primary', kind: 'tasks-api', baseUrl: primary.baseUrl, pollIntervalMs: 50, fallback: ['backup'] },
        { id: 'backup', kind: 'videogen-v1', baseUrl: backup.server.url, pollIntervalMs: 50, models: ['ep-backup-model'] },
      ],
      defaultProvider: 'primary',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await primary?.close();
    await backup?.close();
  });

  const create = async (input: Record<string, unknown>) =>
    (await t.gql(`mutation($input: CreateVideoTaskInput!) { createVideoTask(input: $input) { __typename ... on CreateVideoTaskSuccess { task { id provider } } ... on Error { code message } } }`, { input })).data.createVideoTask;

  async function finish(id: string) {
    const client = wsClient(t.wsUrl);
    const sub = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status provider providerTaskId error { code message } result { url upstreamUrl } } }`, { id }, (d) => d.taskUpdated);
    const done = await sub.waitFor((v) => ['COMPLETED', 'FAILED', 'CANCELLED'].includes(v.status), 30_000);
    await client.dispose();
    return done;
  }

  it('routes by model when no provider is named', async () => {
    const res = await create({ prompt: 'routed by model', model: 'ep-backup-model' });
    expect(res.task.provider).toBe('backup');
    expect((await finish(res.task.id)).status).toBe('COMPLETED');
  });

  it('moves a refused submission to the fallback provider', async () => {
    primary.server.faults.add({ match: 'POST /api/tasks/', fault: { type: 'status', status: 503, body: { detail: 'Service Unavailable' } }, times: 2 });
    const before = primary.createRequests;
    const res = await create({ prompt: 'needs a fallback' });
    expect(res.task.provider).toBe('primary');
    const done = await finish(res.task.id);
    expect(done.status).toBe('COMPLETED');
    expect(done.provider).toBe('backup');
    expect(backup.tasks.has(done.providerTaskId)).toBe(true);
    expect(primary.createRequests - before).toBe(2);
    const q = await t.gql(`query($id: ID!) { task(id: $id) { events { status message } } }`, { id: res.task.id });
    expect(q.data.task.events.map((e: { message: string }) => e.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^moved from primary to backup: primary refused it 2 times/)]));
  });

  it('does not fall back after the upstream may have accepted the task', async () => {
    primary.server.faults.add({ match: 'POST /api/tasks/', fault: { type: 'status', status: 500, body: { detail: 'Internal Server Error' } }, times: 1 });
    const res = await create({ prompt: 'uncertain' });
    const done = await finish(res.task.id);
    expect(done.status).toBe('FAILED');
    expect(done.error.code).toBe('UPSTREAM_UNCERTAIN');
    expect(done.provider).toBe('primary');
  });
});
