// Input images as bytes: type by magic bytes, size caps for files and URLs.
import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import { sniffImageType } from '../../src/media/image.js';
import { readImageBytes, toDataUrl } from '../../src/providers/image-bytes.js';
import { EmulatorServer, TINY_PNG, fakeMp4 } from '../emulators/common.js';
import { encodeWithFfmpeg, makePng, pngTextChunk } from '../emulators/media.js';
import { holdDecodeSlots } from '../support/decode-slots.js';

const JPEG = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex');
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.from([26, 0, 0, 0]), Buffer.from('WEBPVP8 '), Buffer.alloc(18)]);
const REAL_WEBP = encodeWithFfmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48', '-frames:v', '1', '-c:v', 'libwebp'], 'webp');

let server: EmulatorServer;
let chunked: http.Server;
let chunkedUrl: string;
let tmp: string;
const signal = () => new AbortController().signal;
/** The emulators listen on loopback, which image URLs may only reach when allowed. */
const LOOPBACK = ['127.0.0.1'];

beforeAll(async () => {
  server = new EmulatorServer();
  server.route('GET', '/a.png', () => ({ body: TINY_PNG, headers: { 'content-type': 'application/octet-stream' } }));
  server.route('GET', '/b.webp', () => ({ body: REAL_WEBP }));
  server.route('GET', '/corrupt.png', () => ({ body: makePng(640, 480, { corrupt: true }), headers: { 'content-type': 'image/png' } }));
  server.route('GET', '/huge.png', () => ({ body: makePng(16000, 16000, { bitDepth: 1, colorType: 0 }), headers: { 'content-type': 'image/png' } }));
  server.route('GET', '/video.mp4', () => ({ body: fakeMp4('x'), headers: { 'content-type': 'image/png' } }));
  server.route('GET', '/big.png', () => ({ body: Buffer.concat([TINY_PNG, Buffer.alloc(5000)]), headers: { 'content-length': String(TINY_PNG.length + 5000) } }));
  server.route('GET', '/busy.png', () => ({ status: 503, json: { detail: 'busy' } }));
  await server.listen();
  // Streams more than the cap without announcing a length.
  chunked = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png' });
    res.write(TINY_PNG);
    const timer = setInterval(() => {
      if (!res.write(Buffer.alloc(1024))) clearInterval(timer);
    }, 1);
    res.on('close', () => clearInterval(timer));
  });
  await new Promise<void>((r) => chunked.listen(0, '127.0.0.1', r));
  chunkedUrl = `http://127.0.0.1:${(chunked.address() as AddressInfo).port}/endless.png`;
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'reelay-img-'));
});
afterAll(async () => {
  await server.close();
  chunked.closeAllConnections();
  await new Promise((r) => chunked.close(r));
  await fsp.rm(tmp, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(UpstreamError);
    return err as UpstreamError;
  }
  throw new Error('expected a failure');
}

describe('image bytes', () => {
  it('detects PNG, JPEG and WebP by their magic bytes', () => {
    expect(sniffImageType(TINY_PNG)).toBe('image/png');
    expect(sniffImageType(JPEG)).toBe('image/jpeg');
    expect(sniffImageType(WEBP)).toBe('image/webp');
    expect(sniffImageType(fakeMp4('x'))).toBeNull();
    expect(sniffImageType(Buffer.alloc(0))).toBeNull();
  });

  it('builds data URLs', () => {
    expect(toDataUrl(TINY_PNG, 'image/png')).toBe(`data:image/png;base64,${TINY_PNG.toString('base64')}`);
  });

  it('reads files, refusing non-images, oversized and missing files', async () => {
    const png = path.join(tmp, 'a.png');
    await fsp.writeFile(png, TINY_PNG);
    const got = await readImageBytes({ kind: 'file', path: png, contentType: 'image/png' }, { signal: signal() });
    expect(got.contentType).toBe('image/png');
    expect(got.bytes.equals(TINY_PNG)).toBe(true);

    const mp4 = path.join(tmp, 'fake.png');
    await fsp.writeFile(mp4, fakeMp4('y'));
    expect(await failure(readImageBytes({ kind: 'file', path: mp4, contentType: 'image/png' }, { signal: signal() }))).toMatchObject({ code: 'INVALID_IMAGE', retryable: false, maybeCreated: false });
    expect(await failure(readImageBytes({ kind: 'file', path: png, contentType: 'image/png' }, { signal: signal(), maxBytes: 10 }))).toMatchObject({ code: 'INVALID_IMAGE', message: 'input image is larger than 10 bytes' });
    expect(await failure(readImageBytes({ kind: 'file', path: path.join(tmp, 'nope.png'), contentType: 'image/png' }, { signal: signal() }))).toMatchObject({ code: 'INVALID_IMAGE' });
  });

  it('fetches URLs and trusts the bytes, not the declared type', async () => {
    expect((await readImageBytes({ kind: 'url', url: `${server.url}/a.png` }, { signal: signal(), allowHosts: LOOPBACK })).contentType).toBe('image/png');
    expect((await readImageBytes({ kind: 'url', url: `${server.url}/b.webp` }, { signal: signal(), allowHosts: LOOPBACK })).contentType).toBe('image/webp');
    expect(await failure(readImageBytes({ kind: 'url', url: `${server.url}/video.mp4` }, { signal: signal(), allowHosts: LOOPBACK }))).toMatchObject({ code: 'INVALID_IMAGE' });
  });

  it('decodes fetched images like uploads: corrupt data and too many pixels are refused', async () => {
    const opts = { signal: signal(), allowHosts: LOOPBACK };
    expect(await failure(readImageBytes({ kind: 'url', url: `${server.url}/corrupt.png` }, opts))).toMatchObject({ code: 'INVALID_IMAGE', retryable: false, maybeCreated: false, message: expect.stringMatching(/^input image does not decode as a PNG image/) });
    expect(await failure(readImageBytes({ kind: 'url', url: `${server.url}/huge.png` }, opts))).toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS', retryable: false, message: 'input image is 16000x16000 (256000000 pixels); at most 40000000 pixels are accepted' });
    expect(await failure(readImageBytes({ kind: 'url', url: `${server.url}/b.webp` }, { ...opts, maxPixels: 1000 }))).toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS' });
    expect(await failure(readImageBytes({ kind: 'url', url: toDataUrl(makePng(64, 64, { corrupt: true }), 'image/png') }, opts))).toMatchObject({ code: 'INVALID_IMAGE' });
  });

  it('refuses a fetched decompression bomb (INVALID_IMAGE, permanent) and retries later when every decode slot stays busy', async () => {
    const bomb = makePng(8, 8, { chunks: [pngTextChunk('zTXt', 'Comment', Buffer.alloc(16 * 1024 * 1024))] });
    const opts = { signal: signal(), allowHosts: LOOPBACK };
    expect(await failure(readImageBytes({ kind: 'url', url: toDataUrl(bomb, 'image/png') }, opts))).toMatchObject({ code: 'INVALID_IMAGE', retryable: false, message: 'input image has a zTXt chunk that inflates to more than 1048576 bytes' });
    const slots = holdDecodeSlots();
    try {
      expect(await failure(readImageBytes({ kind: 'url', url: toDataUrl(makePng(8, 8), 'image/png') }, { ...opts, slotWaitMs: 100 }))).toMatchObject({ code: 'IMAGE_CHECK_BUSY', retryable: true, maybeCreated: false });
    } finally {
      await slots.release();
    }
  });

  it('caps URL downloads by declared length and while streaming', async () => {
    expect(await failure(readImageBytes({ kind: 'url', url: `${server.url}/big.png` }, { signal: signal(), allowHosts: LOOPBACK, maxBytes: 1000 }))).toMatchObject({ code: 'INVALID_IMAGE', message: 'input image is larger than 1000 bytes' });
    expect(await failure(readImageBytes({ kind: 'url', url: chunkedUrl }, { signal: signal(), allowHosts: LOOPBACK, maxBytes: 20_000 }))).toMatchObject({ code: 'INVALID_IMAGE', retryable: false });
  });

  it('classifies URL trouble: 404 permanent, 503 and unreachable retryable, never "maybe created"', async () => {
    expect(await failure(readImageBytes({ kind: 'url', url: `${server.url}/missing.png` }, { signal: signal(), allowHosts: LOOPBACK }))).toMatchObject({ code: 'INVALID_IMAGE', retryable: false, maybeCreated: false });
    expect(await failure(readImageBytes({ kind: 'url', url: `${server.url}/busy.png` }, { signal: signal(), allowHosts: LOOPBACK }))).toMatchObject({ code: 'IMAGE_FETCH_FAILED', retryable: true, maybeCreated: false });
    expect(await failure(readImageBytes({ kind: 'url', url: 'http://127.0.0.1:1/x.png' }, { signal: signal(), allowHosts: LOOPBACK }))).toMatchObject({ code: 'IMAGE_FETCH_FAILED', retryable: true, maybeCreated: false });
    expect(await failure(readImageBytes({ kind: 'url', url: 'ftp://example.com/x.png' }, { signal: signal(), allowHosts: LOOPBACK }))).toMatchObject({ code: 'INVALID_IMAGE' });
  });

  it('refuses a loopback URL unless allowHosts lets it through, before connecting', async () => {
    const before = server.requests.length;
    for (const url of [`${server.url}/a.png`, `${server.url.replace('127.0.0.1', 'localhost')}/a.png`, 'http://169.254.169.254/latest/meta-data/']) {
      const err = await failure(readImageBytes({ kind: 'url', url }, { signal: signal() }));
      expect(err).toMatchObject({ code: 'IMAGE_URL_FORBIDDEN', retryable: false, maybeCreated: false });
      expect(err.message).toMatch(/allowHosts/);
    }
    expect(server.requests.length).toBe(before);
    expect((await readImageBytes({ kind: 'url', url: `${server.url}/a.png` }, { signal: signal(), allowHosts: ['127.0.0.1'] })).contentType).toBe('image/png');
  });

  it('decodes data: URLs without any network', async () => {
    const got = await readImageBytes({ kind: 'url', url: toDataUrl(TINY_PNG, 'image/png') }, { signal: signal() });
    expect(got.bytes.equals(TINY_PNG)).toBe(true);
    expect(await failure(readImageBytes({ kind: 'url', url: toDataUrl(TINY_PNG, 'image/png') }, { signal: signal(), maxBytes: 10 }))).toMatchObject({ code: 'INVALID_IMAGE' });
    expect(await failure(readImageBytes({ kind: 'url', url: 'data:text/plain,hello' }, { signal: signal() }))).toMatchObject({ code: 'INVALID_IMAGE' });
  });

  it('passes the caller abort through', async () => {
    const ac = new AbortController();
    ac.abort(new Error('cancelled by test'));
    await expect(readImageBytes({ kind: 'url', url: `${server.url}/a.png` }, { signal: ac.signal, allowHosts: LOOPBACK })).rejects.toThrow('cancelled by test');
  });
});
