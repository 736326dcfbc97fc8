// Input images: size from the header before any decode, then one bounded decode.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidMediaError } from '../../src/media/errors.js';
import { imageDimensions, inspectImageBytes, inspectImageFile, sniffImageType } from '../../src/media/image.js';
import { encodeWithFfmpeg, fakeMp4, makePng } from '../emulators/media.js';

const MAX = 40_000_000;
const lavfi = (size: string, ...codec: string[]) => ['-f', 'lavfi', '-i', `testsrc=size=${size}`, '-frames:v', '1', ...codec];

let dir: string;
let samples: Record<'png' | 'jpeg' | 'progressive' | 'webp' | 'webpLossless' | 'webpAlpha', Buffer>;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-image-'));
  samples = {
    png: encodeWithFfmpeg(lavfi('321x123'), 'png'),
    jpeg: encodeWithFfmpeg(lavfi('321x123'), 'jpg'),
    progressive: encodeWithFfmpeg(lavfi('300x200', '-c:v', 'mjpeg', '-q:v', '3', '-huffman', 'optimal'), 'jpg'),
    webp: encodeWithFfmpeg(lavfi('321x123', '-c:v', 'libwebp'), 'webp'),
    webpLossless: encodeWithFfmpeg(lavfi('321x123', '-c:v', 'libwebp', '-lossless', '1'), 'webp'),
    webpAlpha: encodeWithFfmpeg(['-f', 'lavfi', '-i', 'testsrc=size=321x123', '-vf', 'format=yuva420p', '-frames:v', '1', '-c:v', 'libwebp'], 'webp'),
  };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function refusal(promise: Promise<unknown>): Promise<InvalidMediaError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidMediaError);
  return err as InvalidMediaError;
}

describe('imageDimensions', () => {
  it('reads the size from PNG, JPEG and every WebP flavour', () => {
    expect(imageDimensions(samples.png, 'image/png')).toEqual({ width: 321, height: 123 });
    expect(imageDimensions(samples.jpeg, 'image/jpeg')).toEqual({ width: 321, height: 123 });
    expect(imageDimensions(samples.progressive, 'image/jpeg')).toEqual({ width: 300, height: 200 });
    for (const webp of [samples.webp, samples.webpLossless, samples.webpAlpha]) expect(imageDimensions(webp, 'image/webp')).toEqual({ width: 321, height: 123 });
    expect(imageDimensions(makePng(16000, 16000, { bitDepth: 1, colorType: 0 }), 'image/png')).toEqual({ width: 16000, height: 16000 });
  });

  it('reads an extended (VP8X) WebP canvas', () => {
    const vp8x = Buffer.alloc(30);
    vp8x.write('RIFF', 0, 'latin1');
    vp8x.write('WEBPVP8X', 8, 'latin1');
    vp8x.writeUIntLE(1999, 24, 3);
    vp8x.writeUIntLE(2999, 27, 3);
    expect(imageDimensions(vp8x, 'image/webp')).toEqual({ width: 2000, height: 3000 });
  });

  it('gives null for headers that declare no size', () => {
    expect(imageDimensions(samples.png.subarray(0, 20), 'image/png')).toBeNull();
    expect(imageDimensions(Buffer.from([0xff, 0xd8, 0xff, 0xd9]), 'image/jpeg')).toBeNull();
    expect(imageDimensions(makePng(0, 10), 'image/png')).toBeNull();
  });
});

describe('inspectImageBytes / inspectImageFile', () => {
  it('accepts real PNG, JPEG and WebP images', async () => {
    for (const [name, bytes] of Object.entries(samples)) {
      const facts = await inspectImageBytes(bytes, { maxPixels: MAX });
      expect(facts.contentType, name).toBe(sniffImageType(bytes));
      expect(facts.width * facts.height, name).toBeGreaterThan(0);
    }
  });

  it('refuses a PNG header with corrupt data (INVALID_IMAGE) quickly', async () => {
    const t0 = Date.now();
    const err = await refusal(inspectImageBytes(makePng(640, 480, { corrupt: true }), { maxPixels: MAX }));
    expect(err).toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringMatching(/^does not decode as a PNG image/) });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('refuses a 16000×16000 PNG by its header, before any decode (IMAGE_TOO_MANY_PIXELS)', async () => {
    const huge = makePng(16000, 16000, { bitDepth: 8, colorType: 0 });
    const t0 = Date.now();
    const err = await refusal(inspectImageBytes(huge, { maxPixels: MAX }));
    expect(err).toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS', message: 'is 16000x16000 (256000000 pixels); at most 40000000 pixels are accepted' });
    expect(Date.now() - t0).toBeLessThan(1000); // a decode of it takes seconds and ~750 MB
    // The limit is the caller's: the same check with a smaller one refuses smaller images.
    expect(await refusal(inspectImageBytes(samples.png, { maxPixels: 321 * 123 - 1 }))).toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS' });
    expect(await inspectImageBytes(samples.png, { maxPixels: 321 * 123 })).toMatchObject({ width: 321, height: 123 });
  });

  it('refuses a side longer than 16384 pixels (IMAGE_TOO_MANY_PIXELS), even under the pixel cap', async () => {
    // 16385×1 is a few KB and 16385 pixels, yet encoders and scalers choke on it.
    for (const [w, h] of [[16385, 1], [1, 16385], [20000, 2]] as const) {
      const err = await refusal(inspectImageBytes(makePng(w, h), { maxPixels: MAX }));
      expect(err, `${w}x${h}`).toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS', message: `is ${w}x${h}; at most 16384 pixels wide and 16384 high are accepted` });
    }
    const wide = encodeWithFfmpeg(lavfi('16400x8'), 'jpg');
    expect(await refusal(inspectImageBytes(wide, { maxPixels: MAX }))).toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS' });
    expect(await inspectImageBytes(makePng(16384, 1), { maxPixels: MAX })).toMatchObject({ width: 16384, height: 1 });
    expect(await inspectImageBytes(makePng(1, 16384), { maxPixels: MAX })).toMatchObject({ width: 1, height: 16384 });
  });

  it('refuses what is not a PNG, JPEG or WebP image, and truncated files', async () => {
    expect(await refusal(inspectImageBytes(Buffer.from('<html>not an image</html>'), { maxPixels: MAX }))).toMatchObject({ code: 'INVALID_IMAGE', message: 'is not a PNG, JPEG or WebP image' });
    expect(await refusal(inspectImageBytes(fakeMp4('x'), { maxPixels: MAX }))).toMatchObject({ code: 'INVALID_IMAGE' });
    expect(await refusal(inspectImageBytes(samples.jpeg.subarray(0, Math.floor(samples.jpeg.length / 2)), { maxPixels: MAX }))).toMatchObject({ code: 'INVALID_IMAGE' });
    expect(await refusal(inspectImageBytes(samples.png.subarray(0, 30), { maxPixels: MAX }))).toMatchObject({ code: 'INVALID_IMAGE' });
  });

  it('bounds the decode by a deadline', async () => {
    const file = path.join(dir, 'slow.png');
    fs.writeFileSync(file, makePng(640, 480));
    expect(await refusal(inspectImageFile(file, { maxPixels: MAX, timeoutMs: 1 }))).toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringMatching(/did not decode within/) });
  });

  it('passes the caller abort through', async () => {
    await expect(inspectImageBytes(samples.png, { maxPixels: MAX, signal: AbortSignal.abort(new Error('gone')) })).rejects.toThrow('gone');
  });
});
