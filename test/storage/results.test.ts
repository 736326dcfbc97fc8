// Storing a result: the guarded download (only the provider's own origin, its
// allowHosts or public addresses; http(s) only; capped) and the check that the
// bytes are the media they claim to be. Real HTTP servers on 127.0.0.1, no database.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import type { ProviderResult } from '../../src/providers/types.js';
import { serveFile } from '../../src/server/files.js';
import { storeResult, type StoreOptions } from '../../src/storage/results.js';
import { encodeWithFfmpeg, fakeMp4, makePng, SAMPLE_VIDEO, TINY_PNG } from '../emulators/media.js';

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
    case '/empty':
      return void res.writeHead(200, { 'content-type': 'video/mp4' }).end();
    case '/page':
      return void res.writeHead(200, { 'content-type': 'video/mp4' }).end('<html>an error page, not a video</html>');
    case '/to-elsewhere':
      return void res.writeHead(302, { location: `${other}/video.mp4` }).end();
    case '/to-data':
      return void res.writeHead(302, { location: `data:video/mp4;base64,${VIDEO.toString('base64')}` }).end();
    case '/to-v6-loopback':
      return void res.writeHead(302, { location: 'http://[::1]:5432/' }).end();
    case '/to-localhost-signed':
      return void res.writeHead(302, { location: 'http://localhost:5432/bucket/video.mp4?X-Amz-Signature=secret-signature' }).end();
    case '/to-credentials':
      return void res.writeHead(302, { location: 'http://user:secret-password@127.0.0.1:5432/v.mp4?token=secret-token' }).end();
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

  it('names both the original URL and the refused redirect target (no query, no credentials) after a redirect', async () => {
    const elsewherePort = new URL(elsewhere.url).port;
    const targets: Record<string, string> = {
      '/to-elsewhere': `http://127.0.0.1:${elsewherePort}/video.mp4`,
      '/to-v6-loopback': 'http://[::1]:5432/',
      '/to-localhost-signed': 'http://localhost:5432/bucket/video.mp4',
      '/to-credentials': 'http://127.0.0.1:5432/v.mp4',
      '/to-data': 'a data: URL',
    };
    for (const [hop, target] of Object.entries(targets)) {
      const original = `${upstream.url}${hop}?sig=owner-can-see-this`;
      const err = await failure(storeResult(video(original), opts()));
      expect(err, hop).toMatchObject({ code: 'RESULT_URL_FORBIDDEN', retryable: false });
      expect(err.message, hop).toContain(`reelay refused to download the result from ${original}: `); // the owner's own URL, in full
      expect(err.message, hop).toContain(`redirected to ${target}`);
      expect(err.message, hop).not.toMatch(/secret|base64/); // the target's query, credentials and data stay out
    }
    expect(elsewhere.hits).toEqual([]);
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

describe('storeResult: the bytes written', () => {
  it('refuses an empty result (download or file) as a retryable DOWNLOAD_FAILED, leaving nothing; a stored one has the size of its file', async () => {
    const o = opts();
    expect(await failure(storeResult(video(`${upstream.url}/empty`), o))).toMatchObject({ code: 'DOWNLOAD_FAILED', retryable: true, message: 'the result file is empty' });
    const file = path.join(filesDir, 'empty-render.mp4');
    fs.writeFileSync(file, Buffer.alloc(0));
    expect(await failure(storeResult({ source: { kind: 'file', path: file }, mediaType: 'VIDEO' }, o))).toMatchObject({ code: 'DOWNLOAD_FAILED', retryable: true, message: 'the result file is empty' });
    expect(leftovers(o)).toEqual([]);
    const rendered = path.join(filesDir, 'render-ok.mp4');
    fs.writeFileSync(rendered, VIDEO);
    const fromFile = await storeResult({ source: { kind: 'file', path: rendered }, mediaType: 'VIDEO' }, opts());
    expect(fromFile.sizeBytes).toBe(VIDEO.length);
    expect(fs.statSync(path.join(filesDir, fromFile.file)).size).toBe(VIDEO.length);
    const downloaded = await storeResult(video(`${upstream.url}/video.mp4`), opts());
    expect(downloaded.sizeBytes).toBe(VIDEO.length);
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

describe('storeResult and /files/: the stored name and the served type follow the content', () => {
  const clip = (ext: string, ...codec: string[]) => encodeWithFfmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=25', '-t', '0.5', ...codec], ext);
  // What an upstream might send under "Content-Type: video/mp4", what reelay must call it, and its extension.
  const cases: Array<{ name: string; bytes: () => Buffer; mediaType: 'VIDEO' | 'IMAGE'; type: string; ext: string }> = [
    { name: 'MP4', bytes: () => VIDEO, mediaType: 'VIDEO', type: 'video/mp4', ext: 'mp4' },
    { name: 'AVI', bytes: () => clip('avi', '-c:v', 'mpeg4'), mediaType: 'VIDEO', type: 'video/x-msvideo', ext: 'avi' },
    { name: 'WebM', bytes: () => clip('webm', '-c:v', 'libvpx'), mediaType: 'VIDEO', type: 'video/webm', ext: 'webm' },
    { name: 'Matroska', bytes: () => clip('mkv', '-c:v', 'mpeg4'), mediaType: 'VIDEO', type: 'video/x-matroska', ext: 'mkv' },
    // (No MPEG-TS: the bundled ffprobe crashes on it, so such a result is refused with INVALID_RESULT.)
    { name: 'MPEG-PS', bytes: () => clip('mpg', '-c:v', 'mpeg1video'), mediaType: 'VIDEO', type: 'video/mpeg', ext: 'mpg' },
    { name: 'FLV', bytes: () => clip('flv', '-c:v', 'flv'), mediaType: 'VIDEO', type: 'video/x-flv', ext: 'flv' },
    { name: 'QuickTime', bytes: () => clip('mov', '-c:v', 'mpeg4'), mediaType: 'VIDEO', type: 'video/quicktime', ext: 'mov' },
    // A container reelay has no name for: stored and served as plain bytes, never under the upstream's claim.
    { name: 'NUT', bytes: () => clip('nut', '-c:v', 'mpeg4'), mediaType: 'VIDEO', type: 'application/octet-stream', ext: 'bin' },
    { name: 'GIF image', bytes: () => encodeWithFfmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48', '-frames:v', '1'], 'gif'), mediaType: 'IMAGE', type: 'image/gif', ext: 'gif' },
  ];
  let media: TestServer;
  const bodies = new Map<string, Buffer>();

  beforeAll(async () => {
    for (const c of cases) bodies.set(`/${c.ext}`, c.bytes());
    // Every answer claims the wrong type, as a careless (or hostile) upstream would.
    media = await serve((p, res) => void res.writeHead(200, { 'content-type': p === '/gif' ? 'image/png' : 'video/mp4' }).end(bodies.get(p)));
  });
  afterAll(async () => {
    await media?.close();
  });

  /** GET /files/<file> from serveFile alone (the server's own safety headers are not added here). */
  async function fetchServed(file: string): Promise<Response> {
    const server = http.createServer((req, res) => void serveFile(req, res, filesDir, new URL(req.url ?? '/', 'http://x').pathname));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      return await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/files/${file}`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  for (const c of cases) {
    it(`${c.name} claimed as ${c.mediaType === 'VIDEO' ? 'video/mp4' : 'image/png'}: stored as .${c.ext}, served as ${c.type}`, async () => {
      const o = opts({ taskId: randomUUID(), provider: { baseUrl: media.url, allowHosts: [] } });
      const stored = await storeResult({ source: { kind: 'url', url: `${media.url}/${c.ext}` }, mediaType: c.mediaType, contentType: c.mediaType === 'VIDEO' ? 'video/mp4' : 'image/png' }, o);
      expect(stored).toMatchObject({ contentType: c.type, file: `${o.taskId}/result.${c.ext}`, width: 64, height: 48 });
      const res = await fetchServed(stored.file);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(stored.contentType);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(Buffer.from(await res.arrayBuffer()).equals(bodies.get(`/${c.ext}`)!)).toBe(true);
    });
  }

  it('never serves a type a browser would run, whatever a file is called', async () => {
    const id = randomUUID();
    fs.mkdirSync(path.join(filesDir, id), { recursive: true });
    for (const name of ['page.html', 'page.htm', 'image.svg', 'app.js', 'doc.xml', 'x.xhtml', 'noext']) {
      fs.writeFileSync(path.join(filesDir, id, name), '<html><script>alert(1)</script></html>');
      const res = await fetchServed(`${id}/${name}`);
      expect(res.headers.get('content-type'), name).toBe('application/octet-stream');
      expect(res.headers.get('x-content-type-options'), name).toBe('nosniff');
    }
  });
});
