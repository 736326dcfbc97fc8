// A web page cannot drive a local reelay: the Host rule (DNS rebinding) while no
// keys are required, CORS only for REELAY_CORS_ORIGINS, CSRF prevention for
// POSTs a browser sends without a preflight, and the Origin rule on WebSocket
// upgrades — over HTTP, SSE and WebSocket.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestApp, type TestApp } from '../support/app.js';
import { TINY_PNG } from '../emulators/media.js';

const LISTED = 'https://app.example';
const FOREIGN = 'https://evil.example';
const KEY = 'cross-site-key-123456';
const PNG = TINY_PNG;
const CREATE = 'mutation($input: CreateVideoTaskInput!) { createVideoTask(input: $input) { __typename ... on CreateVideoTaskSuccess { task { id inputImage { contentType } } } ... on Error { code message } } }';

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request with any Host and Origin (fetch does not let a caller set Host). */
function raw(t: TestApp, method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Raw> {
  const { port } = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { host: `localhost:${port}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      // SSE streams stay open: the status and the first bytes are enough.
      const done = () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (String(res.headers['content-type']).includes('text/event-stream')) {
          done();
          res.destroy();
        }
      });
      res.on('end', done);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Open a WebSocket with the given headers: 'open', or the HTTP status of the refused upgrade. */
function upgrade(t: TestApp, headers: Record<string, string>): Promise<{ opened: true } | { opened: false; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(t.wsUrl, 'graphql-transport-ws', { headers });
    ws.on('open', () => {
      ws.close();
      resolve({ opened: true });
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ opened: false, status: res.statusCode!, body }));
    });
    ws.on('error', reject);
  });
}

function multipart(withHeader: boolean | string): { body: FormData; headers: Record<string, string> } {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: CREATE, variables: { input: { prompt: 'uploaded', image: { file: null } } } }));
  form.set('map', JSON.stringify({ 0: ['variables.input.image.file'] }));
  form.set('0', new Blob([new Uint8Array(PNG)], { type: 'image/png' }), 'tiny.png');
  const name = typeof withHeader === 'string' ? withHeader : 'x-graphql-yoga-csrf';
  return { body: form, headers: withHeader ? { [name]: '1' } : {} };
}

const taskCount = async (t: TestApp, key?: string) => (await t.gql<{ stats: { total: number } }>('{ stats { total } }', {}, key)).data!.stats.total;

describe('without keys', () => {
  let t: TestApp;
  let port: string;
  beforeAll(async () => {
    t = await startTestApp({ env: { REELAY_CORS_ORIGINS: LISTED }, configure: (c) => (c.role = 'api') });
    port = new URL(t.url).port;
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('serves loopback Host names: localhost, 127.0.0.1 and [::1] with any port', async () => {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'localhost', '127.0.0.1:1']) {
      const res = await raw(t, 'POST', '/graphql', { host, 'content-type': 'application/json' }, JSON.stringify({ query: '{ stats { total } }' }));
      expect(res.status, host).toBe(200);
      expect(JSON.parse(res.body).data.stats).toBeDefined();
    }
  });

  it('refuses a foreign Host with 403 on GraphQL, GET queries, SSE, /health and /files', async () => {
    const evil = { host: `evil.example:${port}` };
    const query = encodeURIComponent('{ stats { total } }');
    const subscription = encodeURIComponent('subscription { tasksUpdated { id } }');
    const attempts = [
      raw(t, 'POST', '/graphql', { ...evil, 'content-type': 'application/json' }, JSON.stringify({ query: '{ stats { total } }' })),
      raw(t, 'POST', '/graphql', { ...evil, 'content-type': 'application/json' }, JSON.stringify({ query: CREATE, variables: { input: { prompt: 'rebound' } } })),
      raw(t, 'GET', `/graphql?query=${query}`, evil),
      raw(t, 'GET', `/graphql?query=${subscription}`, { ...evil, accept: 'text/event-stream' }),
      raw(t, 'POST', '/graphql', { ...evil, 'content-type': 'application/json', accept: 'text/event-stream' }, JSON.stringify({ query: 'subscription { tasksUpdated { id } }' })),
      raw(t, 'GET', '/health', evil),
      raw(t, 'GET', '/files/00000000-0000-0000-0000-000000000000/result.mp4', evil),
      raw(t, 'GET', '/graphql', { ...evil, accept: 'text/html' }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(403);
      expect(JSON.parse(res.body).errors[0]).toMatchObject({ extensions: { code: 'HOST_NOT_ALLOWED' }, message: expect.stringContaining('evil.example') });
    }
    expect(await taskCount(t)).toBe(0);
  });

  it('refuses WebSocket upgrades with a foreign Host or Origin; absent, same-origin and listed Origins pass', async () => {
    const local = `localhost:${port}`;
    const refusedHost = await upgrade(t, { host: `evil.example:${port}` });
    expect(refusedHost).toMatchObject({ opened: false, status: 403 });
    expect(refusedHost.opened || JSON.parse(refusedHost.body).errors[0].extensions.code).toBe('HOST_NOT_ALLOWED');
    const refusedOrigin = await upgrade(t, { host: local, origin: FOREIGN });
    expect(refusedOrigin).toMatchObject({ opened: false, status: 403 });
    expect(refusedOrigin.opened || JSON.parse(refusedOrigin.body).errors[0].extensions.code).toBe('ORIGIN_NOT_ALLOWED');
    expect(await upgrade(t, { host: local, origin: 'null' })).toMatchObject({ opened: false, status: 403 });

    expect(await upgrade(t, { host: local })).toEqual({ opened: true });
    expect(await upgrade(t, { host: local, origin: `http://${local}` })).toEqual({ opened: true });
    expect(await upgrade(t, { host: `[::1]:${port}`, origin: `http://[::1]:${port}` })).toEqual({ opened: true });
    expect(await upgrade(t, { host: local, origin: LISTED })).toEqual({ opened: true });
  });

  it('CORS: only listed origins get Access-Control-Allow-Origin (with credentials); foreign origins get nothing', async () => {
    const preflight = (origin: string) =>
      raw(t, 'OPTIONS', '/graphql', { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' });
    const listed = await preflight(LISTED);
    expect(listed.headers['access-control-allow-origin']).toBe(LISTED);
    expect(listed.headers['access-control-allow-credentials']).toBe('true');
    expect(listed.headers['access-control-allow-headers']).toMatch(/authorization/);
    const foreign = await preflight(FOREIGN);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    expect(foreign.headers['access-control-allow-credentials']).toBeUndefined();

    const post = (origin: string) => raw(t, 'POST', '/graphql', { origin, 'content-type': 'application/json' }, JSON.stringify({ query: '{ stats { total } }' }));
    expect((await post(LISTED)).headers['access-control-allow-origin']).toBe(LISTED);
    const simple = await post(FOREIGN);
    expect(simple.headers['access-control-allow-origin']).toBeUndefined();
    expect(simple.headers['access-control-allow-credentials']).toBeUndefined();
    const get = await raw(t, 'GET', `/graphql?query=${encodeURIComponent('{ stats { total } }')}`, { origin: FOREIGN });
    expect(get.status).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
    const sse = await raw(t, 'GET', `/graphql?query=${encodeURIComponent('subscription { tasksUpdated { id } }')}`, { origin: FOREIGN, accept: 'text/event-stream' });
    expect(sse.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('CSRF: form-urlencoded, text/plain and multipart POSTs need a non-simple header; JSON POSTs and GET queries do not', async () => {
    const mutation = JSON.stringify({ query: CREATE, variables: { input: { prompt: 'from a form' } } });
    const form = `query=${encodeURIComponent(CREATE)}&variables=${encodeURIComponent(JSON.stringify({ input: { prompt: 'from a form' } }))}`;
    for (const [type, body] of [
      ['text/plain', mutation],
      ['text/plain;charset=UTF-8', mutation],
      ['application/x-www-form-urlencoded', form],
    ] as const) {
      const res = await raw(t, 'POST', '/graphql', { origin: FOREIGN, 'content-type': type }, body);
      expect(res.status, type).toBe(403);
      expect(res.body).toMatch(/CSRF/);
    }
    const sse = await raw(t, 'POST', '/graphql', { origin: FOREIGN, 'content-type': 'text/plain', accept: 'text/event-stream' }, JSON.stringify({ query: 'subscription { tasksUpdated { id } }' }));
    expect(sse.status).toBe(403);

    const upload = multipart(false);
    const refused = await fetch(`${t.url}/graphql`, { method: 'POST', headers: upload.headers, body: upload.body });
    expect(refused.status).toBe(403);
    expect(await taskCount(t)).toBe(0);

    for (const header of ['x-graphql-yoga-csrf', 'apollo-require-preflight']) {
      const ok = multipart(header);
      const res = await fetch(`${t.url}/graphql`, { method: 'POST', headers: ok.headers, body: ok.body });
      expect(res.status).toBe(200);
      const body = (await res.json()) as any;
      expect(body.data.createVideoTask.task.inputImage.contentType).toBe('image/png');
    }

    expect((await t.gql(CREATE, { input: { prompt: 'from JSON' } })).data.createVideoTask.__typename).toBe('CreateVideoTaskSuccess');
    const get = await fetch(`${t.url}/graphql?query=${encodeURIComponent('{ stats { total } }')}`);
    expect(get.status).toBe(200);
    expect(((await get.json()) as any).data.stats.total).toBe(3);
    const getMutation = await fetch(`${t.url}/graphql?query=${encodeURIComponent('mutation { createVideoTask(input: { prompt: "via GET" }) { __typename } }')}`);
    expect(getMutation.status).toBe(405);
    expect(await taskCount(t)).toBe(3);
  });

  it('no page may frame reelay (GraphiQL runs what its URL pre-fills); CORS answers vary by Origin', async () => {
    const page = await raw(t, 'GET', '/graphql?query=mutation%7B__typename%7D', { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const api = await raw(t, 'POST', '/graphql', { 'content-type': 'application/json', origin: LISTED }, JSON.stringify({ query: '{ __typename }' }));
    expect(api.headers['access-control-allow-origin']).toBe(LISTED);
    expect(String(api.headers.vary)).toMatch(/origin/i);
    expect(api.headers['x-content-type-options']).toBe('nosniff');
  });

  it('GraphiQL sends the CSRF header with every request (JSON and multipart)', async () => {
    const res = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/"additionalHeaders":\{"x-graphql-yoga-csrf":"graphiql"\}/);
  });
});

describe('with keys', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { REELAY_API_KEYS: `ops:${KEY}` }, configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('serves any Host (a proxy or a DNS name) but still refuses foreign Origins on WebSocket upgrades', async () => {
    const res = await raw(t, 'POST', '/graphql', { host: 'video.example.com', 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, JSON.stringify({ query: '{ stats { total } }' }));
    expect(res.status).toBe(200);
    expect((await raw(t, 'GET', '/health', { host: 'video.example.com' })).status).toBe(200);
    expect(await upgrade(t, { host: 'video.example.com' })).toEqual({ opened: true });
    expect(await upgrade(t, { host: 'video.example.com', origin: FOREIGN })).toMatchObject({ opened: false, status: 403 });
    expect(await upgrade(t, { host: 'video.example.com', origin: 'https://video.example.com' })).toEqual({ opened: true });
  });

  it('no CORS headers for any origin when none is listed', async () => {
    const res = await raw(t, 'OPTIONS', '/graphql', { origin: FOREIGN, 'access-control-request-method': 'POST' });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});
