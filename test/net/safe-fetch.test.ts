// The SSRF-guarded fetch against real HTTP servers on 127.0.0.1: loopback is refused
// unless allowed, every redirect hop is re-checked, bodies are capped, trouble classified.
import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import { MAX_REDIRECTS, RESULT_FETCH, redactUrl, safeFetchBytes, safeFetchToFile, type SafeFetchOptions } from '../../src/net/safe-fetch.js';
import { TINY_PNG } from '../emulators/common.js';

interface TestServer {
  server: http.Server;
  port: number;
  hits: string[];
  auth: Array<string | undefined>;
}

async function start(handler: http.RequestListener): Promise<TestServer> {
  const hits: string[] = [];
  const auth: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    hits.push(req.url ?? '');
    auth.push(req.headers.authorization);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, hits, auth };
}

async function stop(s: TestServer): Promise<void> {
  s.server.closeAllConnections();
  await new Promise((r) => s.server.close(r));
}

let a: TestServer; // the main server
let b: TestServer; // a second origin, the target of cross-host redirects

const routes: http.RequestListener = (req, res) => {
  const u = new URL(req.url ?? '/', 'http://x');
  const p = u.pathname;
  if (p === '/img.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(TINY_PNG);
  if (p === '/redirect') return void res.writeHead(302, { location: u.searchParams.get('to') ?? '/img.png' }).end();
  const chain = /^\/chain\/(\d+)$/.exec(p);
  if (chain) {
    const left = Number(chain[1]);
    return void (left === 0 ? res.writeHead(200, { 'content-type': 'image/png' }).end(TINY_PNG) : res.writeHead(307, { location: `/chain/${left - 1}` }).end());
  }
  if (p === '/big.png') {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(TINY_PNG.length + 5000) });
    return void res.end(Buffer.concat([TINY_PNG, Buffer.alloc(5000)]));
  }
  if (p === '/endless.png') {
    // Chunked: no Content-Length, more than any cap.
    res.writeHead(200, { 'content-type': 'image/png' });
    res.write(TINY_PNG);
    const timer = setInterval(() => {
      if (!res.write(Buffer.alloc(1024))) clearInterval(timer);
    }, 1);
    return void res.on('close', () => clearInterval(timer));
  }
  if (p === '/hang') return; // read the request, never answer
  if (p === '/slow-body') {
    res.writeHead(200, { 'content-type': 'image/png' });
    return void res.write(TINY_PNG.subarray(0, 4)); // and never finish
  }
  if (p === '/status') {
    const status = Number(u.searchParams.get('code'));
    return void res.writeHead(status, { 'content-type': 'application/json' }).end('{"detail":"nope"}');
  }
  if (p === '/ftp-redirect') return void res.writeHead(301, { location: 'ftp://example.com/x.png' }).end();
  res.writeHead(404).end();
};

beforeAll(async () => {
  a = await start(routes);
  b = await start(routes);
});
afterAll(async () => {
  await stop(a);
  await stop(b);
});
afterEach(() => {
  vi.restoreAllMocks();
  a.hits.length = 0;
  b.hits.length = 0;
  a.auth.length = 0;
  b.auth.length = 0;
});

const opts = (over: Partial<SafeFetchOptions> = {}): SafeFetchOptions => ({ allowHosts: [], maxBytes: 100_000, timeoutMs: 5000, ...over });
const at = (s: TestServer, path: string, host = '127.0.0.1') => `http://${host}:${s.port}${path}`;

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamError);
    return err as UpstreamError;
  }
  throw new Error('expected a failure');
}

describe('safeFetchBytes: address policy', () => {
  it('refuses loopback by default, by IP literal and by a name resolving to it, without connecting', async () => {
    for (const url of [at(a, '/img.png'), at(a, '/img.png', 'localhost'), at(a, '/img.png', '[::1]'), at(a, '/img.png', '[::ffff:127.0.0.1]'), `http://0x7f000001:${a.port}/img.png`, `http://2130706433:${a.port}/img.png`]) {
      const err = await failure(safeFetchBytes(url, opts()));
      expect(err).toMatchObject({ code: 'IMAGE_URL_FORBIDDEN', retryable: false, maybeCreated: false });
      expect(err.message).toMatch(/resolves to a private or local address/);
      expect(err.message).toMatch(/allowHosts/);
    }
    expect(a.hits).toEqual([]);
  });

  it('refuses metadata and private targets before any DNS or connection', async () => {
    const lookup = vi.spyOn(dns, 'lookup');
    for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://metadata.google.internal/computeMetadata/v1/', 'http://metadata/x', 'https://10.0.0.1/a.png', 'http://[fd00::1]/a.png', 'http://[64:ff9b::a9fe:a9fe]/']) {
      expect(await failure(safeFetchBytes(url, opts()))).toMatchObject({ code: 'IMAGE_URL_FORBIDDEN' });
    }
    expect(lookup).not.toHaveBeenCalled();
  });

  it('fetches loopback when allowHosts names it (IP, CIDR or host name)', async () => {
    const got = await safeFetchBytes(at(a, '/img.png'), opts({ allowHosts: ['127.0.0.1'] }));
    expect(got.bytes.equals(TINY_PNG)).toBe(true);
    expect(got.contentType).toBe('image/png');
    expect(got.finalUrl).toBe(at(a, '/img.png'));
    expect((await safeFetchBytes(at(a, '/img.png', 'localhost'), opts({ allowHosts: ['localhost'] }))).bytes.equals(TINY_PNG)).toBe(true);
    // An address rule applies to whatever the name resolves to.
    expect((await safeFetchBytes(at(a, '/img.png', 'localhost'), opts({ allowHosts: ['127.0.0.0/8', '::1'] }))).bytes.equals(TINY_PNG)).toBe(true);
  });

  it('checks the addresses DNS returns, all of them, at connection time', async () => {
    const real = dns.lookup;
    const fake = (answers: Record<string, string[]>) =>
      vi.spyOn(dns, 'lookup').mockImplementation(((host: string, options: dns.LookupAllOptions, cb: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void) => {
        const ips = answers[host];
        if (!ips) return (real as unknown as (h: string, o: dns.LookupAllOptions, c: typeof cb) => void)(host, options, cb);
        cb(null, ips.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
      }) as unknown as typeof dns.lookup);
    fake({ 'public.test': ['127.0.0.1'], 'mixed.test': ['93.184.216.34', '127.0.0.1'] });
    expect(await failure(safeFetchBytes(at(a, '/img.png', 'public.test'), opts()))).toMatchObject({ code: 'IMAGE_URL_FORBIDDEN', message: expect.stringContaining('public.test') });
    expect(await failure(safeFetchBytes(at(a, '/img.png', 'mixed.test'), opts()))).toMatchObject({ code: 'IMAGE_URL_FORBIDDEN' });
    expect(a.hits).toEqual([]);
    // Allowed by address: the socket connects to exactly the address that was checked.
    expect((await safeFetchBytes(at(a, '/img.png', 'public.test'), opts({ allowHosts: ['127.0.0.1'] }))).bytes.equals(TINY_PNG)).toBe(true);
    expect(a.hits).toEqual(['/img.png']);
  });

  it('re-checks every redirect hop: an allowed host cannot bounce to a forbidden one', async () => {
    const target = at(b, '/img.png'); // 127.0.0.1, not allowed when only "localhost" is
    const err = await failure(safeFetchBytes(at(a, `/redirect?to=${encodeURIComponent(target)}`, 'localhost'), opts({ allowHosts: ['localhost'] })));
    expect(err).toMatchObject({ code: 'IMAGE_URL_FORBIDDEN', message: expect.stringContaining('127.0.0.1') });
    expect(a.hits).toHaveLength(1);
    expect(b.hits).toEqual([]);
    // The same redirect to the allowed name is followed.
    const ok = await safeFetchBytes(at(a, `/redirect?to=${encodeURIComponent(at(b, '/img.png', 'localhost'))}`, 'localhost'), opts({ allowHosts: ['localhost'] }));
    expect(ok.bytes.equals(TINY_PNG)).toBe(true);
    expect(ok.finalUrl).toBe(at(b, '/img.png', 'localhost'));
  });

  it('refuses non-http schemes, also on redirect, and URLs with credentials', async () => {
    const allow = opts({ allowHosts: ['127.0.0.1'] });
    expect(await failure(safeFetchBytes('ftp://example.com/x.png', allow))).toMatchObject({ code: 'INVALID_IMAGE' });
    expect(await failure(safeFetchBytes('file:///etc/passwd', allow))).toMatchObject({ code: 'INVALID_IMAGE' });
    expect(await failure(safeFetchBytes('not a url', allow))).toMatchObject({ code: 'INVALID_IMAGE' });
    expect(await failure(safeFetchBytes(at(a, '/ftp-redirect'), allow))).toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringContaining('ftp:') });
    expect(await failure(safeFetchBytes(`http://user:pw@127.0.0.1:${a.port}/img.png`, allow))).toMatchObject({ code: 'INVALID_IMAGE' });
  });
});

describe('safeFetchBytes: limits and failures', () => {
  const allow = (over: Partial<SafeFetchOptions> = {}) => opts({ allowHosts: ['127.0.0.1'], ...over });

  it(`follows up to ${MAX_REDIRECTS} redirects, not more`, async () => {
    const got = await safeFetchBytes(at(a, `/chain/${MAX_REDIRECTS}`), allow());
    expect(got.bytes.equals(TINY_PNG)).toBe(true);
    expect(got.finalUrl).toBe(at(a, '/chain/0'));
    a.hits.length = 0;
    const err = await failure(safeFetchBytes(at(a, `/chain/${MAX_REDIRECTS + 1}`), allow()));
    expect(err).toMatchObject({ code: 'INVALID_IMAGE', retryable: false, message: expect.stringMatching(/too many redirects/) });
    expect(a.hits).toHaveLength(MAX_REDIRECTS + 1);
  });

  it('caps the body by Content-Length and while streaming a chunked body', async () => {
    expect(await failure(safeFetchBytes(at(a, '/big.png'), allow({ maxBytes: 1000 })))).toMatchObject({ code: 'INVALID_IMAGE', message: 'input image is larger than 1000 bytes', retryable: false });
    expect(await failure(safeFetchBytes(at(a, '/endless.png'), allow({ maxBytes: 20_000 })))).toMatchObject({ code: 'INVALID_IMAGE', message: 'input image is larger than 20000 bytes' });
    expect((await safeFetchBytes(at(a, '/big.png'), allow({ maxBytes: TINY_PNG.length + 5000 }))).bytes).toHaveLength(TINY_PNG.length + 5000);
  });

  it('gives up at the deadline, waiting for headers or for the body (retryable)', async () => {
    for (const path of ['/hang', '/slow-body']) {
      const t0 = Date.now();
      const err = await failure(safeFetchBytes(at(a, path), allow({ timeoutMs: 200 })));
      expect(err).toMatchObject({ code: 'IMAGE_FETCH_FAILED', retryable: true, maybeCreated: false });
      expect(Date.now() - t0).toBeLessThan(2000);
    }
  });

  it('passes the caller abort through', async () => {
    const ac = new AbortController();
    const pending = safeFetchBytes(at(a, '/hang'), allow({ signal: ac.signal }));
    setTimeout(() => ac.abort(new Error('cancelled by test')), 50);
    await expect(pending).rejects.toThrow('cancelled by test');
    const gone = new AbortController();
    gone.abort(new Error('already gone'));
    await expect(safeFetchBytes(at(a, '/img.png'), allow({ signal: gone.signal }))).rejects.toThrow('already gone');
  });

  it('classifies answers: 4xx permanent, 5xx and 429 retryable, never "maybe created"', async () => {
    expect(await failure(safeFetchBytes(at(a, '/missing.png'), allow()))).toMatchObject({ code: 'INVALID_IMAGE', status: 404, retryable: false, maybeCreated: false });
    expect(await failure(safeFetchBytes(at(a, '/status?code=403'), allow()))).toMatchObject({ code: 'INVALID_IMAGE', status: 403, retryable: false });
    expect(await failure(safeFetchBytes(at(a, '/status?code=503'), allow()))).toMatchObject({ code: 'IMAGE_FETCH_FAILED', status: 503, retryable: true, maybeCreated: false });
    expect(await failure(safeFetchBytes(at(a, '/status?code=429'), allow()))).toMatchObject({ code: 'IMAGE_FETCH_FAILED', status: 429, retryable: true });
    expect(await failure(safeFetchBytes('http://127.0.0.1:1/x.png', allow()))).toMatchObject({ code: 'IMAGE_FETCH_FAILED', retryable: true, maybeCreated: false });
  });

  it('never echoes query strings or credentials in messages', async () => {
    const e404 = await failure(safeFetchBytes(`${at(a, '/missing.png')}?token=s3cret#frag`, allow()));
    expect(e404.message).toContain(`http://127.0.0.1:${a.port}/missing.png`);
    expect(e404.message).not.toMatch(/s3cret|frag/);
    const forbidden = await failure(safeFetchBytes(`${at(a, '/img.png')}?sig=s3cret`, opts()));
    expect(forbidden.message).not.toContain('s3cret');
    const chain = await failure(safeFetchBytes(`${at(a, `/chain/${MAX_REDIRECTS + 1}`)}?sig=s3cret`, allow()));
    expect(chain.message).not.toContain('s3cret');
    // A refused redirect names its target by scheme, host and path only.
    const signed = `http://u:s3cret@localhost:${b.port}/bucket/img.png?X-Amz-Signature=s3cret`;
    const bounced = await failure(safeFetchBytes(at(a, `/redirect?to=${encodeURIComponent(signed)}`), allow()));
    expect(bounced).toMatchObject({ code: 'INVALID_IMAGE', message: `the input image host redirected to http://localhost:${b.port}/bucket/img.png; input image URLs must not carry credentials` });
    const target = `http://127.0.0.1:${b.port}/img.png?X-Amz-Signature=s3cret`; // 127.0.0.1 is not allowed when only "localhost" is
    const hidden = await failure(safeFetchBytes(at(a, `/redirect?to=${encodeURIComponent(target)}`, 'localhost'), opts({ allowHosts: ['localhost'] })));
    expect(hidden).toMatchObject({ code: 'IMAGE_URL_FORBIDDEN', message: expect.stringMatching(new RegExp(`^the input image host redirected to http://127\\.0\\.0\\.1:${b.port}/img\\.png; input image URL host 127\\.0\\.0\\.1 resolves to a private`)) });
    expect(redactUrl('https://u:p@example.com:8443/a/b.png?x=1#y')).toBe('https://example.com:8443/a/b.png');
  });
});

describe('trusted origins, headers and the result purpose', () => {
  const result = (over: Partial<SafeFetchOptions> = {}) => opts({ purpose: RESULT_FETCH, ...over });

  it('lets a trusted origin resolve to loopback, and only that origin (scheme, host and port)', async () => {
    const trusted = `http://127.0.0.1:${a.port}/api/v1`; // a path prefix does not matter
    expect((await safeFetchBytes(at(a, '/img.png'), result({ trustedOrigins: [trusted] }))).bytes.equals(TINY_PNG)).toBe(true);
    expect((await safeFetchBytes(at(a, '/img.png', 'localhost'), result({ trustedOrigins: [`http://localhost:${a.port}`] }))).bytes.equals(TINY_PNG)).toBe(true);
    expect(await failure(safeFetchBytes(at(b, '/img.png'), result({ trustedOrigins: [trusted] })))).toMatchObject({ code: 'RESULT_URL_FORBIDDEN', retryable: false });
    expect(await failure(safeFetchBytes(at(a, '/img.png', 'localhost'), result({ trustedOrigins: [trusted] })))).toMatchObject({ code: 'RESULT_URL_FORBIDDEN' });
    // From the trusted origin, a redirect elsewhere is judged again.
    const bounce = at(a, `/redirect?to=${encodeURIComponent(at(b, '/img.png'))}`);
    expect(await failure(safeFetchBytes(bounce, result({ trustedOrigins: [trusted] })))).toMatchObject({ code: 'RESULT_URL_FORBIDDEN' });
    expect(b.hits).toEqual([]);
  });

  it('uses the purpose\'s codes: a data: or ftp: redirect is forbidden, 4xx a failed download, too large RESULT_TOO_LARGE', async () => {
    const trusted = { trustedOrigins: [at(a, '/')] };
    expect(await failure(safeFetchBytes(at(a, `/redirect?to=${encodeURIComponent('data:image/png;base64,AAAA')}`), result(trusted)))).toMatchObject({ code: 'RESULT_URL_FORBIDDEN' });
    expect(await failure(safeFetchBytes(at(a, '/ftp-redirect'), result(trusted)))).toMatchObject({ code: 'RESULT_URL_FORBIDDEN', message: expect.stringContaining('result URL scheme ftp:') });
    expect(await failure(safeFetchBytes(at(a, '/missing.png'), result(trusted)))).toMatchObject({ code: 'DOWNLOAD_FAILED', status: 404, retryable: false });
    expect(await failure(safeFetchBytes(at(a, '/status?code=502'), result(trusted)))).toMatchObject({ code: 'DOWNLOAD_FAILED', retryable: true });
    expect(await failure(safeFetchBytes(at(a, '/big.png'), result({ ...trusted, maxBytes: 1000 })))).toMatchObject({ code: 'RESULT_TOO_LARGE', message: 'result is larger than 1000 bytes' });
    expect((await failure(safeFetchBytes(at(b, '/img.png'), result()))).message).toMatch(/baseUrl origin/);
  });

  it('sends extra headers to the first origin only, never after a redirect to another', async () => {
    const headers = { authorization: 'Bearer upstream-key' };
    const allow = opts({ allowHosts: ['127.0.0.1'], headers });
    await safeFetchBytes(at(a, '/chain/1'), allow);
    expect(a.auth).toEqual(['Bearer upstream-key', 'Bearer upstream-key']); // same origin: kept
    await safeFetchBytes(at(a, `/redirect?to=${encodeURIComponent(at(b, `/redirect?to=${encodeURIComponent(at(a, '/img.png'))}`))}`), allow);
    expect(b.auth).toEqual([undefined]);
    expect(a.auth.slice(2)).toEqual(['Bearer upstream-key', undefined]); // dropped for good, even back home
  });
});

describe('connections', () => {
  /** A server that counts connections; with `dropReused`, a request on a connection that already served one gets the connection closed instead of an answer. */
  async function counting(dropReused = false): Promise<{ s: TestServer; connections: () => number }> {
    let connections = 0;
    const served = new WeakSet<object>();
    const s = await start((req, res) => {
      if (dropReused && served.has(req.socket)) return void req.socket.destroy();
      served.add(req.socket);
      routes(req, res);
    });
    s.server.on('connection', () => connections++);
    return { s, connections: () => connections };
  }
  const result = (s: TestServer, over: Partial<SafeFetchOptions> = {}) => opts({ purpose: RESULT_FETCH, trustedOrigins: [at(s, '/')], ...over });

  it("downloads from a trusted origin (a provider's own) share kept-alive connections; any other origin gets a connection per request", async () => {
    const { s, connections } = await counting();
    try {
      for (let i = 0; i < 3; i++) expect((await safeFetchBytes(at(s, '/img.png'), result(s))).bytes.equals(TINY_PNG)).toBe(true);
      expect(connections()).toBe(1);
      // Allowed by allowHosts, not trusted: judged at a lookup of its own every time.
      for (let i = 0; i < 2; i++) await safeFetchBytes(at(s, '/img.png'), opts({ allowHosts: ['127.0.0.1'] }));
      expect(connections()).toBe(3);
    } finally {
      await stop(s);
    }
  });

  it('keeps the connections of a trusted origin that announces a one-second keep-alive (as the emulators do)', async () => {
    const { s, connections } = await counting();
    s.server.keepAliveTimeout = 1000;
    try {
      for (let i = 0; i < 3; i++) expect((await safeFetchBytes(at(s, '/img.png'), result(s))).bytes.equals(TINY_PNG)).toBe(true);
      expect(connections()).toBe(1);
    } finally {
      await stop(s);
    }
  });

  it('sends a GET again on a new connection when a kept-alive one was closed as it was reused', async () => {
    const { s, connections } = await counting(true);
    try {
      for (let i = 0; i < 3; i++) expect((await safeFetchBytes(at(s, '/img.png'), result(s))).bytes.equals(TINY_PNG)).toBe(true);
      // 1st: a new pooled connection; 2nd: that one, dropped, then sent again on a connection of its
      // own; 3rd: a new pooled connection (the dropped one is gone).
      expect(connections()).toBe(3);
      expect(s.hits).toHaveLength(4);
    } finally {
      await stop(s);
    }
  });
});

describe('safeFetchToFile', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-safe-file-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const allow = (over: Partial<SafeFetchOptions> = {}) => opts({ allowHosts: ['127.0.0.1'], ...over });

  it('streams the body into the file through the same guard', async () => {
    const dest = path.join(dir, 'a.png');
    const got = await safeFetchToFile(at(a, '/chain/2'), dest, allow());
    expect(got).toEqual({ sizeBytes: TINY_PNG.length, contentType: 'image/png', finalUrl: at(a, '/chain/0') });
    expect(fs.readFileSync(dest).equals(TINY_PNG)).toBe(true);
    expect(await failure(safeFetchToFile(at(a, '/img.png'), path.join(dir, 'b.png'), opts()))).toMatchObject({ code: 'IMAGE_URL_FORBIDDEN' });
    expect(fs.existsSync(path.join(dir, 'b.png'))).toBe(false); // refused before anything was written
  });

  it('caps a streamed body and keeps the deadline while the body flows', async () => {
    expect(await failure(safeFetchToFile(at(a, '/endless.png'), path.join(dir, 'c.png'), allow({ maxBytes: 20_000 })))).toMatchObject({ code: 'INVALID_IMAGE', message: 'input image is larger than 20000 bytes' });
    expect(fs.statSync(path.join(dir, 'c.png')).size).toBeLessThanOrEqual(20_000);
    const t0 = Date.now();
    expect(await failure(safeFetchToFile(at(a, '/slow-body'), path.join(dir, 'd.png'), allow({ timeoutMs: 200 })))).toMatchObject({ code: 'IMAGE_FETCH_FAILED', retryable: true });
    expect(Date.now() - t0).toBeLessThan(2000);
    const ac = new AbortController();
    const pending = safeFetchToFile(at(a, '/slow-body'), path.join(dir, 'e.png'), allow({ signal: ac.signal }));
    setTimeout(() => ac.abort(new Error('cancelled by test')), 50);
    await expect(pending).rejects.toThrow('cancelled by test');
  });
});
