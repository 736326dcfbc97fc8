// Images that are small on disk but make a decoder do enormous work: PNG chunks
// that inflate to gigabytes (zTXt, iTXt, iCCP: ffmpeg inflates them whole into
// memory), pixel data that inflates far beyond what the image's size needs, and
// thousands of text chunks (ffmpeg's metadata dictionary is quadratic). Each is
// refused by a walk over the chunks, before ffmpeg ever sees the file.
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ImageCheckBusyError, InvalidMediaError } from '../../src/media/errors.js';
import { inspectImageBytes } from '../../src/media/image.js';
import { holdDecodeSlots } from '../support/decode-slots.js';
import { encodeWithFfmpeg, makePng, pngIccChunk, pngTextChunk } from '../emulators/media.js';

const MAX = 40_000_000;
const MiB = 1024 * 1024;

async function refusal(promise: Promise<unknown>): Promise<InvalidMediaError> {
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InvalidMediaError);
  return err as InvalidMediaError;
}

/** Refused with INVALID_IMAGE quickly: the caps stop the walk long before a decoder would. */
async function refusedFast(png: Buffer, message: RegExp): Promise<void> {
  const t0 = Date.now();
  expect(await refusal(inspectImageBytes(png, { maxPixels: MAX }))).toMatchObject({ code: 'INVALID_IMAGE', message: expect.stringMatching(message) });
  expect(Date.now() - t0).toBeLessThan(2000);
}

describe('PNG decompression bombs', () => {
  const bomb = Buffer.alloc(16 * MiB); // deflates to ~16 KB; ffmpeg would hold all of it (a 1 GB one takes 3 GB and 14 s)

  it('refuses a zTXt, a compressed iTXt or an iCCP chunk that inflates past 1 MiB, before or after the pixels', async () => {
    for (const chunk of [pngTextChunk('zTXt', 'Comment', bomb), pngTextChunk('iTXt', 'XML:com.adobe.xmp', bomb), pngIccChunk(bomb), pngTextChunk('zTXt', 'Comment', bomb, true)]) {
      const png = makePng(8, 8, { chunks: [chunk] });
      expect(png.length).toBeLessThan(200_000);
      await refusedFast(png, new RegExp(`^has a ${chunk.type} chunk that inflates to more than 1048576 bytes`));
    }
  });

  it('refuses many metadata chunks that inflate past 4 MiB together', async () => {
    const part = Buffer.alloc(MiB - 1024);
    const png = makePng(8, 8, { chunks: Array.from({ length: 5 }, (_, i) => pngTextChunk('zTXt', `k${i}`, part)) });
    await refusedFast(png, /^has metadata chunks that inflate to more than 4194304 bytes in total/);
  });

  it('refuses more than 256 text chunks', async () => {
    const png = makePng(8, 8, { chunks: Array.from({ length: 257 }, (_, i) => pngTextChunk('tEXt', `k${i}`, Buffer.from('v'))) });
    await refusedFast(png, /^has more than 256 text chunks/);
  });

  it('refuses pixel data that inflates far beyond what the image size needs', async () => {
    // A 1×1 image whose IDAT inflates to 32 MiB: ffmpeg keeps inflating it after the one row.
    const idat = zlib.deflateSync(Buffer.alloc(32 * MiB), { level: 9 });
    await refusedFast(makePng(1, 1, { idat }), /^has pixel data that inflates to more than \d+ bytes; a 1x1 image needs 4/);
  });

  it('accepts real images with metadata, interlaced ones and every pixel format', async () => {
    const lavfi = (fmt: string, ...flags: string[]) => ['-f', 'lavfi', '-i', 'testsrc=size=321x123', '-frames:v', '1', '-pix_fmt', fmt, ...flags];
    const formats = ['rgb24', 'rgba', 'rgb48be', 'rgba64be', 'pal8', 'gray', 'ya8', 'gray16be', 'ya16be', 'monob'];
    for (const fmt of formats) {
      for (const flags of [[], ['-flags', '+ildct']]) {
        const png = encodeWithFfmpeg(lavfi(fmt, ...flags), 'png');
        expect(await inspectImageBytes(png, { maxPixels: MAX }), `${fmt} ${flags.join(' ')}`).toMatchObject({ contentType: 'image/png', width: 321, height: 123 });
      }
    }
    const meta = makePng(40, 30, {
      chunks: [pngIccChunk(Buffer.alloc(600 * 1024, 7)), pngTextChunk('zTXt', 'Comment', Buffer.from('hello')), pngTextChunk('iTXt', 'Title', Buffer.from('bonjour'), true), pngTextChunk('tEXt', 'Author', Buffer.from('me'))],
    });
    expect(await inspectImageBytes(meta, { maxPixels: MAX })).toMatchObject({ width: 40, height: 30 });
  });
});

describe('decode slots', () => {
  it('gives up waiting for a slot after a bounded time (IMAGE_CHECK_BUSY), and frees it again', async () => {
    const slots = holdDecodeSlots();
    const png = makePng(8, 8);
    const t0 = Date.now();
    const err = await inspectImageBytes(png, { maxPixels: MAX, slotWaitMs: 150 }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ImageCheckBusyError);
    expect(err).toMatchObject({ code: 'IMAGE_CHECK_BUSY', message: expect.stringMatching(/too many images are being checked at once/) });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Date.now() - t0).toBeLessThan(2000);
    // A waiting caller that aborts leaves the queue too.
    await expect(inspectImageBytes(png, { maxPixels: MAX, signal: AbortSignal.timeout(50) })).rejects.toMatchObject({ name: 'TimeoutError' });
    await slots.release();
    expect(await inspectImageBytes(png, { maxPixels: MAX, slotWaitMs: 150 })).toMatchObject({ width: 8, height: 8 });
  });
});
