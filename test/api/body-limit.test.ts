// The request body limit (src/server/body-limit.ts): a declared Content-Length
// over it is refused from the header, a chunked body once it streams past it,
// and ordinary requests of either kind go through.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REQUEST_BODY_BYTES } from '../../src/server/body-limit.js';
import { startTestApp, type TestApp } from '../support/app.js';

const QUERY = JSON.stringify({ query: '{ tasks(first: 1) { totalCount } }' });

/** POST /graphql; `chunks` are written one by one without a Content-Length (chunked) unless `length` is given. */
function post(base: string, chunks: Array<string | Buffer>, length?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL('/graphql', base);
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'x-reelay-csrf': '1' };
    if (length !== undefined) headers['content-length'] = length;
    const req = http.request({ agent: false, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    (async () => {
      for (const c of chunks) if (!req.write(c)) await new Promise((r) => req.once('drain', r));
      req.end();
    })().catch(reject);
  });
}

describe('request body limit', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ db: 'pglite', configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('answers ordinary requests with and without a Content-Length', async () => {
    const sized = await post(t.url, [QUERY], String(Buffer.byteLength(QUERY)));
    expect(sized.status).toBe(200);
    expect(JSON.parse(sized.body).data.tasks.totalCount).toBe(0);
    const chunked = await post(t.url, [QUERY.slice(0, 10), QUERY.slice(10)]);
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body).data.tasks.totalCount).toBe(0);
  });

  it('refuses a declared Content-Length over the limit with 413 before reading the body', async () => {
    const r = await post(t.url, [QUERY], String(MAX_REQUEST_BODY_BYTES + 1)).catch((err: Error) => ({ status: -1, body: err.message }));
    expect(r.status).toBe(413);
    expect(r.body).toMatch(/REQUEST_ENTITY_TOO_LARGE|too large/i);
  });

  it('refuses a chunked body once more than the limit has streamed, with 413', async () => {
    const mb = Buffer.alloc(1 << 20, 0x20); // spaces: valid JSON whitespace, so only the size is wrong
    const chunks: Array<string | Buffer> = ['{"query":"{ tasks(first: 1) { totalCount } }"', ...Array.from({ length: Math.ceil(MAX_REQUEST_BODY_BYTES / mb.length) + 1 }, () => mb), '}'];
    const r = await post(t.url, chunks).catch((err: Error) => ({ status: -1, body: err.message }));
    expect(r, r.body.slice(0, 300)).toMatchObject({ status: 413 });
  }, 60_000);
});
