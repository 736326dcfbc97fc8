// Provider keys never show up in GraphQL answers, task errors or logs, even
// when the upstream rejects them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSoraUiEmulator, type SoraUiEmulator } from '../emulators/sora-ui.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { providerEntry, run } from './helpers.js';

const SECRET = 'sk-live-DO-NOT-LEAK-4242';

describe('secrets', () => {
  let emu: SoraUiEmulator;
  let t: TestApp;
  const logs: string[] = [];

  beforeAll(async () => {
    emu = await startSoraUiEmulator();
    t = await startTestApp({
      providers: [providerEntry('sora', 'sora-ui', emu.url, { apiKey: SECRET })],
      defaultProvider: 'sora',
      env: { REELAY_API_KEYS: 'ops:client-secret-key-99' },
      logSink: (line) => logs.push(line),
    });
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
  });

  it('a rejected provider key fails the task without echoing the key anywhere', async () => {
    const res = await t.gql(`mutation { createVideoTask(input: { prompt: "leak check" }) { ... on CreateVideoTaskSuccess { task { id } } } }`, {}, 'client-secret-key-99');
    const id = res.data.createVideoTask.task.id;
    await expect
      .poll(async () => (await t.gql(`query($id: ID!) { task(id: $id) { status } }`, { id }, 'client-secret-key-99')).data.task.status, { timeout: 15_000 })
      .toBe('FAILED');
    const everything = await t.gql(
      `query($id: ID!) { task(id: $id) { status error { code message } events { message } } providers { id kind models capabilities { models } } health { providers { id message } } }`,
      { id },
      'client-secret-key-99',
    );
    expect(everything.data.task.error.code).toBe('UPSTREAM_UNAUTHORIZED');
    const outputs = [JSON.stringify(everything), JSON.stringify(await (await fetch(`${t.url}/health`)).json()), logs.join('\n')];
    for (const out of outputs) {
      expect(out).not.toContain(SECRET);
      expect(out).not.toContain('client-secret-key-99');
    }
    // The upstream did receive the key: it just never comes back out.
    expect(emu.server.requests.some((r) => r.headers.authorization === `Bearer ${SECRET}`)).toBe(true);
    expect(logs.length).toBeGreaterThan(0);
  });

  it('a wrong client key is not echoed in the 401', async () => {
    const res = await t.gql('{ stats { total } }', {}, 'guess-this-key');
    expect(res.status).toBe(401);
    expect(JSON.stringify(res)).not.toContain('guess-this-key');
  });
});
