// Request ids and REELAY_TRUST_PROXY through the real server: every answer
// carries x-request-id and the request's log lines carry it too; forwarded
// headers (and incoming request ids) count only from a trusted proxy, where the
// client address is the rightmost hop that is not a trusted proxy and links use
// the forwarded scheme and host.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { providerEntry, run } from '../e2e/helpers.js';
import { startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';
import { startTestApp, type TestApp } from '../support/app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const READ = /* GraphQL */ `query ($id: ID!) { task(id: $id) { id result { url } } }`;

interface Line {
  msg: string;
  reqId?: string;
  ip?: string;
  path?: string;
  [k: string]: unknown;
}

let emu: VideogenV1Emulator;
beforeAll(async () => {
  emu = await startVideogenV1Emulator({ processingAfterMs: 20, completeAfterMs: 100 });
});
afterAll(async () => {
  await emu?.close();
});

/** A server for the enclosing describe whose log lines are kept (parsed) in `lines`. */
function serverWithLog(env: Record<string, string>): { t: TestApp; lines: Line[] } {
  const s = { t: undefined as unknown as TestApp, lines: [] as Line[] };
  beforeAll(async () => {
    s.t = await startTestApp({ env, providers: [providerEntry('vg', 'videogen-v1', emu.url)], defaultProvider: 'vg', logSink: (l) => void s.lines.push(JSON.parse(l) as Line) });
  });
  afterAll(async () => {
    await s.t?.stop();
  });
  return s;
}

async function post(t: TestApp, query: string, variables: Record<string, unknown>, headers: Record<string, string>) {
  const res = await fetch(`${t.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
  return { id: res.headers.get('x-request-id'), body: (await res.json()) as { data?: any; errors?: unknown } };
}

/** The access line of the request with this id (written when the answer finished). */
async function accessLine(lines: Line[], reqId: string): Promise<Line> {
  for (let i = 0; i < 100; i++) {
    const line = lines.find((l) => l.msg === 'request' && l.reqId === reqId);
    if (line) return line;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access line with reqId ${reqId}`);
}

const hostile = (requestId: string) => ({ 'x-request-id': requestId, 'x-forwarded-for': '6.6.6.6, 198.51.100.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'reelay.example.com' });

describe('without REELAY_TRUST_PROXY', () => {
  const s = serverWithLog({});

  it('answers with a fresh request id, which its log line carries, ignoring the client’s own', async () => {
    const { id } = await post(s.t, '{ __typename }', {}, hostile('chosen-by-the-client'));
    expect(id).toMatch(UUID);
    const line = await accessLine(s.lines, id!);
    expect(line).toMatchObject({ path: '/graphql', status: 200 });
    // A spoofed X-Forwarded-For does not change the client address.
    expect(line.ip).toBe('127.0.0.1');
    const other = await fetch(`${s.t.url}/health`);
    expect(other.headers.get('x-request-id')).toMatch(UUID);
    expect(other.headers.get('x-request-id')).not.toBe(id);
  });

  it('builds links from the connection, not from X-Forwarded-Proto/-Host', async () => {
    const { id } = await run(s.t, { prompt: 'a link' });
    const { body } = await post(s.t, READ, { id }, hostile('x'));
    expect(body.data.task.result.url).toBe(`${s.t.url}/files/${id}/result.mp4`);
  });

  it('gives a WebSocket upgrade a request id too', async () => {
    const ws = new WebSocket(s.t.wsUrl, 'graphql-transport-ws', { headers: { 'x-request-id': 'chosen-by-the-client' } });
    const header = await new Promise<string | undefined>((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(res.headers['x-request-id'] as string | undefined));
      ws.once('error', reject);
    });
    ws.close();
    expect(header).toMatch(UUID);
  });
});

describe('with REELAY_TRUST_PROXY naming the proxy', () => {
  // The test's own connections come from loopback: they play the proxy.
  const s = serverWithLog({ REELAY_TRUST_PROXY: '127.0.0.1' });

  it('keeps the proxy’s well-formed request id and logs the rightmost untrusted hop as the client', async () => {
    const { id } = await post(s.t, '{ __typename }', {}, hostile('proxy-id-123'));
    expect(id).toBe('proxy-id-123');
    expect((await accessLine(s.lines, 'proxy-id-123')).ip).toBe('198.51.100.4');
    // Spoofed hops to the left of what the proxy appended never win.
    const spoofed = await post(s.t, '{ __typename }', {}, { 'x-forwarded-for': '127.0.0.1, 10.0.0.1, 203.0.113.50' });
    expect((await accessLine(s.lines, spoofed.id!)).ip).toBe('203.0.113.50');
    const badId = await post(s.t, '{ __typename }', {}, { 'x-request-id': 'no spaces <allowed>' });
    expect(badId.id).toMatch(UUID);
  });

  it('builds links from X-Forwarded-Proto and -Host', async () => {
    const { id } = await run(s.t, { prompt: 'a proxied link' });
    const { body } = await post(s.t, READ, { id }, hostile('y'));
    expect(body.data.task.result.url).toBe(`https://reelay.example.com/files/${id}/result.mp4`);
    // Without them, the connection's own.
    const plain = await post(s.t, READ, { id }, {});
    expect(plain.body.data.task.result.url).toBe(`${s.t.url}/files/${id}/result.mp4`);
  });
});

describe('an unexpected error', () => {
  const s = serverWithLog({});

  it('is logged with the request id, which the masked error also names', async () => {
    // A resolver that fails for no reason the API knows: its loader throws.
    const db = s.t.app.services.database.db as unknown as { select: unknown };
    const select = db.select;
    db.select = () => {
      throw new Error('disk on fire');
    };
    try {
      const { id, body } = await post(s.t, '{ tasks(first: 1) { totalCount } }', {}, {});
      const errors = body.errors as Array<{ message: string; extensions: { code: string; requestId: string } }>;
      expect(errors[0]!.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', requestId: id });
      expect(errors[0]!.message).not.toContain('disk on fire');
      const logged = s.lines.find((l) => l.msg === 'unexpected error');
      expect(logged?.reqId).toBe(id);
      expect(JSON.stringify(logged)).toContain('disk on fire');
    } finally {
      db.select = select;
    }
  });
});
