// Provider health as users see it in `providers` and /health: from the health
// endpoint where the kind has one, otherwise from recent outcomes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSoraUiEmulator, type SoraUiEmulator } from '../emulators/sora-ui.js';
import { startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { providerEntry, run } from './helpers.js';

describe('provider health', () => {
  let tasksApi: TasksApiEmulator;
  let sora: SoraUiEmulator;
  let t: TestApp;

  beforeAll(async () => {
    tasksApi = await startTasksApiEmulator();
    sora = await startSoraUiEmulator();
    t = await startTestApp({
      env: { REELAY_HEALTH_INTERVAL_MS: '200', REELAY_MAX_ATTEMPTS: '3' },
      providers: [providerEntry('tasks', 'tasks-api', tasksApi.baseUrl), providerEntry('sora', 'sora-ui', sora.url, { apiKey: sora.token })],
      defaultProvider: 'tasks',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await tasksApi?.close();
    await sora?.close();
  });

  const healthOf = async (id: string) => {
    const res = await t.gql('{ providers { id healthy } }');
    return res.data.providers.find((p: { id: string }) => p.id === id).healthy as boolean;
  };

  it('follows the health endpoint, in providers and /health', async () => {
    await expect.poll(() => healthOf('tasks')).toBe(true);
    tasksApi.healthy = false;
    await expect.poll(() => healthOf('tasks'), { timeout: 5000 }).toBe(false);
    const body = (await (await fetch(`${t.url}/health`)).json()) as { providers: Array<{ id: string; healthy: boolean; message: string | null }> };
    expect(body.providers.find((p) => p.id === 'tasks')).toMatchObject({ healthy: false, message: expect.any(String) });
    tasksApi.healthy = true;
    await expect.poll(() => healthOf('tasks'), { timeout: 5000 }).toBe(true);
  });

  it('learns from outcomes where there is no health endpoint', async () => {
    expect(await healthOf('sora')).toBe(true);
    sora.server.faults.add({ match: 'POST /api/video/tasks', fault: { type: 'status', status: 503, body: { success: false, message: 'busy', code: 'UNAVAILABLE' } }, times: 3 });
    const { final } = await run(t, { prompt: 'refused three times', provider: 'sora' });
    expect(final.status).toBe('FAILED');
    expect(await healthOf('sora')).toBe(false);
    // A success makes it healthy again.
    const ok = await run(t, { prompt: 'accepted', provider: 'sora' }, 20_000);
    expect(ok.final.status).toBe('COMPLETED');
    expect(await healthOf('sora')).toBe(true);
  });
});
