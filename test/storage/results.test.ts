// Storing a result: the guarded download (only the provider's own origin, its
// allowHosts or public addresses; http(s) only; capped) and the check that the
// bytes are the media they claim to be. Real HTTP servers on 127.0.0.1, no database.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import type { ProviderResult } from '../../src/providers/types.js';
import { storeResult, type StoreOptions } from '../../src/storage/results.js';
import { fakeMp4, makePng, SAMPLE_VIDEO, TINY_PNG } from '../emulators/media.js';

interface TestServer {
  url: string;
  hits: Array<{ path: string; authorization?: string }>;
  close(): Promise<void>;
}

const VIDEO = fakeMp4('stored');

async function serve(handler: (path: string, res: http.ServerResponse, other?: string) => void, other?: () => string): Promise<TestServer> {
  const hits: TestServer['hits'] = [];
  const server = http.createServer((req, res) => {
    hits.push({ path: req.url ?? '', authorization: req.headers.authorization });
    handler(req.url ?? '', res, other?.());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

let upstream: TestServer; // the provider's own origin (its baseUrl)
let elsewhere: TestServer; // another loopback origin
let filesDir: string;

const routes = (p: string, res: http.ServerResponse, other?: string) => {
  const u = new URL(p, 'http://x');
  switch (u.pathname) {
    case '/video.mp4':
      return void res.writeHead(200, { 'content-type': 'video/mp4' }).end(VIDEO);
    case '/image.png':
      return void res.writeHead(200, { 'content-type': 'image/png' }).end(TINY_PNG);
    case '/corrupt.png':
      return void res.writeHead(200, { 'content-type': 'image/png' }).end(makePng(64, 64, { corrupt: true }));
    case '/page':
      return void res.writeHead(200, { 'content-type': 'video/mp4' }).end('<html>an error page, not a video</html>');
    case '/to-elsewhere':
      return void res.writeHead(302, { location: `${other}/video.mp4` }).end();
    case '/to-data':
      return void res.writeHead(302, { location: `data:video/mp4;base64,${VIDEO.toString('base64')}` }).end();
    case '/to-v6-loopback':
      return void res.writeHead(302, { location: 'http://[::1]:5432/' }).end();
    case '/endless': {
      res.writeHead(200, { 'content-type': 'video/mp4' });
      const timer = setInterval(() => res.write(Buffer.alloc(4096)), 1);
      return void res.on('close', () => clearInterval(timer));
    }
    default:
      res.writeHead(404).end();
  }
};

beforeAll(async () => {
  elsewhere = await serve(routes);
  upstream = await serve(routes, () => elsewhere.url);
  filesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-results-'));
});
afterAll(async () => {
  await upstream.close();
  await elsewhere.close();
  fs.rmSync(filesDir, { recursive: true, force: true });
});
afterEach(() => {
  upstream.hits.length = 0;
  elsewhere.hits.length = 0;
});

let seq = 0;
function opts(over: Partial<StoreOptions> = {}): StoreOptions {
  return { filesDir, taskId: `task-${++seq}`, signal: new AbortController().signal, maxBytes: 10_000_000, maxPixels: 40_000_000, timeoutMs: 10_000, provider: { baseUrl: upstream.url, allowHosts: [] }, ...over };
}
const video = (url: string, extra: Partial<ProviderResult> = {}): ProviderResult => ({ source: { kind: 'url', url }, mediaType: 'VIDEO', ...extra });

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

/** Nothing but finished results in the task's directory: no temporary files left. */
const leftovers = (o: StoreOptions) => (fs.existsSync(path.join(filesDir, o.taskId)) ? fs.readdirSync(path.join(filesDir, o.taskId)).filter((f) => f.startsWith('.')) : []);

describe('storeResult: where a result may come from', () => {
  it('refuses loopback addresses, a redirect to them, data: and other schemes with RESULT_URL_FORBIDDEN, naming the URL', async () => {
    const o = opts({ provider: { baseUrl: 'https://upstream.example.com', allowHosts: [] } });
    const refused = [
      `${elsewhere.url}/video.mp4?sig=owner-can-see-this`,
      'http://[::1]:5432/',
      'http://localhost:5432/',
      'http://169.254.169.254/latest/meta-data/',
      `data:video/mp4;base64,${VIDEO.toString('base64').slice(0, 64)}`,
      'file:///etc/passwd',
      'ftp://example.com/v.mp4',
    ];
    for (const url of refused) {
      const err = await failure(storeResult(video(url), o));
      expect(err, url).toMatchObject({ code: 'RESULT_URL_FORBIDDEN', retryable: false });
      expect(err.message).toContain(url); // the owner sees which URL the upstream gave
    }
    expect(elsewhere.hits).toEqual([]);
    expect(leftovers(o)).toEqual([]);
  });

  it("allows the provider's own baseUrl origin, even on loopback, but not a redirect from it to another loopback origin", async () => {
    const ok = await storeResult(video(`${upstream.url}/video.mp4`), opts());
    expect(ok).toMatchObject({ upstreamUrl: `${upstream.url}/video.mp4`, contentType: 'video/mp4', sizeBytes: VIDEO.length });
    for (const hop of ['/to-elsewhere', '/to-data', '/to-v6-loopback']) {
      const err = await failure(storeResult(video(`${upstream.url}${hop}`), opts()));
      expect(err, hop).toMatchObject({ code: 'RESULT_URL_FORBIDDEN' });
    }
    expect(elsewhere.hits).toEqual([]);
    // Same host, other port: another origin.
    const port = Number(new URL(elsewhere.url).port);
    expect(await failure(storeResult(video(`http://127.0.0.1:${port}/video.mp4`), opts()))).toMatchObject({ code: 'RESULT_URL_FORBIDDEN' });
  });

  it('allows hosts the provider lists in allowHosts (name, IP or CIDR)', async () => {
    for (const allowHosts of [['127.0.0.1'], ['127.0.0.0/8']]) {
      const stored = await storeResult(video(`${elsewhere.url}/video.mp4`), opts({ provider: { baseUrl: 'https://upstream.example.com', allowHosts } }));
      expect(stored.sizeBytes).toBe(VIDEO.length);
    }
    const viaRedirect = await storeResult(video(`${upstream.url}/to-elsewhere`), opts({ provider: { baseUrl: upstream.url, allowHosts: ['127.0.0.1'] } }));
    expect(viaRedirect.upstreamUrl).toBe(`${upstream.url}/to-elsewhere`);
  });

  it("sends the provider's headers to its own origin only, never after a redirect elsewhere", async () => {
    const headers = { authorization: 'Bearer upstream-secret' };
    await storeResult({ source: { kind: 'url', url: `${upstream.url}/to-elsewhere`, headers }, mediaType: 'VIDEO' }, opts({ provider: { baseUrl: upstream.url, allowHosts: ['127.0.0.1'] } }));
    expect(upstream.hits).toEqual([{ path: '/to-elsewhere', authorization: 'Bearer upstream-secret' }]);
    expect(elsewhere.hits).toEqual([{ path: '/video.mp4', authorization: undefined }]);
  });

  it('caps the size (RESULT_TOO_LARGE) for downloads and files, leaving no partial file', async () => {
    const small = opts({ maxBytes: 1000 });
    expect(await failure(storeResult(video(`${upstream.url}/video.mp4`), small))).toMatchObject({ code: 'RESULT_TOO_LARGE', retryable: false });
    expect(await failure(storeResult(video(`${upstream.url}/endless`), opts({ maxBytes: 200_000 })))).toMatchObject({ code: 'RESULT_TOO_LARGE' });
    const file = path.join(filesDir, 'render.mp4');
    fs.writeFileSync(file, VIDEO);
    expect(await failure(storeResult({ source: { kind: 'file', path: file }, mediaType: 'VIDEO' }, small))).toMatchObject({ code: 'RESULT_TOO_LARGE' });
    expect(leftovers(small)).toEqual([]);
  });
});

describe('storeResult: the result must be real media', () => {
  it("takes width, height and duration from ffprobe, not from the upstream's claim", async () => {
    const stored = await storeResult(video(`${upstream.url}/video.mp4`, { width: 1920, height: 1080, durationSeconds: 9, contentType: 'video/quicktime' }), opts());
    expect(stored).toMatchObject({ contentType: 'video/mp4', width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height });
    expect(stored.durationSeconds).toBeCloseTo(SAMPLE_VIDEO.durationSeconds, 1);
    expect(stored.file).toMatch(/\/result\.mp4$/);
  });

  it('refuses bytes that are not what they claim with INVALID_RESULT, at once (not retryable)', async () => {
    const o = opts();
    const page = await failure(storeResult(video(`${upstream.url}/page?token=abc`), o));
    expect(page).toMatchObject({ code: 'INVALID_RESULT', retryable: false, message: expect.stringContaining(`${upstream.url}/page?token=abc`) });
    expect(await failure(storeResult(video(`${upstream.url}/image.png`), o))).toMatchObject({ code: 'INVALID_RESULT', message: expect.stringMatching(/not a video/) });
    expect(await failure(storeResult({ source: { kind: 'url', url: `${upstream.url}/corrupt.png` }, mediaType: 'IMAGE' }, o))).toMatchObject({ code: 'INVALID_RESULT', message: expect.stringMatching(/does not decode/) });
    expect(await failure(storeResult({ source: { kind: 'url', url: `${upstream.url}/video.mp4` }, mediaType: 'IMAGE' }, o))).toMatchObject({ code: 'INVALID_RESULT' });
    expect(leftovers(o)).toEqual([]);
    expect(fs.readdirSync(path.join(filesDir, o.taskId))).toEqual([]); // nothing invalid is ever served
  });

  it('stores an image result that decodes, with its size', async () => {
    const stored = await storeResult({ source: { kind: 'url', url: `${upstream.url}/image.png` }, mediaType: 'IMAGE' }, opts());
    expect(stored).toMatchObject({ contentType: 'image/png', width: 2, height: 2, durationSeconds: null });
  });
});
