// Start-up refusals and graceful shutdown.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { startTestApp } from '../support/app.js';
import { subscribe, wsClient } from '../support/ws.js';

describe('lifecycle', () => {
  it('refuses to serve openly on a non-loopback host', async () => {
    const err = await startTestApp({ env: { HOST: '0.0.0.0' } }).then(
      async (t) => {
        await t.stop();
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/not a loopback address and no API keys exist/);
  });

  it('serves on a non-loopback host when keys exist', async () => {
    const t = await startTestApp({ env: { HOST: '0.0.0.0', REELAY_API_KEYS: 'ops:ops-key-12345' }, configure: (c) => (c.role = 'api') });
    try {
      const url = `http://127.0.0.1:${t.app.port}`;
      const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ops-key-12345' }, body: JSON.stringify({ query: '{ health { status } }' }) });
      expect(await res.json()).toEqual({ data: { health: { status: 'ok' } } });
    } finally {
      await t.stop();
    }
  });

  it('shutdown closes open subscriptions with 1001 and stops accepting', async () => {
    const t = await startTestApp({ configure: (c) => (c.role = 'api') });
    const created = await t.gql(`mutation { createVideoTask(input: { prompt: "never runs" }) { ... on CreateVideoTaskSuccess { task { id } } } }`);
    const id = created.data.createVideoTask.task.id;
    let closeCode = 0;
    const client = wsClient(t.wsUrl, undefined, { on: { closed: (e) => (closeCode = (e as { code: number }).code) } });
    const sub = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status } }`, { id }, (d) => d.taskUpdated);
    await sub.waitFor((v) => v.status === 'QUEUED');
    await t.stop();
    await expect.poll(() => closeCode).toBe(1001);
    await expect(fetch(`${t.url}/health`)).rejects.toThrow();
  });
});

describe('configuration changes', () => {
  it('warns at start about unfinished tasks of a provider the config no longer has', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-stranded-'));
    try {
      const first = await startTestApp({ dataDir, persistent: true, providers: [{ id: 'old', kind: 'local' }], configure: (c) => (c.role = 'api') });
      await first.gql(`mutation { createVideoTask(input: { prompt: "left behind" }) { __typename } }`);
      await first.stop();
      const logs: string[] = [];
      const second = await startTestApp({ dataDir, persistent: true, providers: [{ id: 'new', kind: 'local' }], logSink: (l) => logs.push(l) });
      await second.stop();
      expect(logs.join('\n')).toMatch(/1 unfinished task\(s\) wait for provider \\"old\\"/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
