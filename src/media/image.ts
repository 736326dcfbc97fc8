// Still images reelay holds or stores: the type by content, the size from the
// header (before anything is decoded, so a 16000×16000 PNG of a few hundred KB
// is refused without allocating a gigabyte), then one bounded decode by ffmpeg
// (pixel cap, one thread, a deadline) that proves the data is a real image.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { extensionOf } from './content-types.js';
import { readHead, sniffContentType } from './sniff.js';
import { ImageCheckBusyError, InvalidMediaError } from './errors.js';
import { checkPngChunks } from './png-chunks.js';
import { Slots } from '../slots.js';
import { decoderPixelCap, ffmpegPath, lastErrorLine, runTool } from './tools.js';

export type ImageContentType = 'image/png' | 'image/jpeg' | 'image/webp';
/** Types a stored result may also have. */
export type StillImageType = ImageContentType | 'image/gif';

export interface ImageFacts {
  contentType: StillImageType;
  width: number;
  height: number;
}

export interface ImageCheckOptions {
  /** Largest accepted width × height (REELAY_MAX_IMAGE_PIXELS). */
  maxPixels: number;
  /** Accepted types; PNG, JPEG and WebP by default. */
  types?: readonly StillImageType[];
  /** Longest accepted side; MAX_IMAGE_SIDE by default (results pass Infinity: they are stored, not rendered). */
  maxSide?: number;
  /** Deadline of the decode; 20 s when omitted. */
  timeoutMs?: number;
  /** Longest wait for a free decode slot before ImageCheckBusyError; 10 s when omitted. */
  slotWaitMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_MAX_IMAGE_PIXELS = 40_000_000;
/**
 * Longest accepted side of an input image: libx264 and swscale refuse wider frames,
 * and a 16385×1 image is only 16385 pixels, so the pixel cap alone lets it through.
 */
export const MAX_IMAGE_SIDE = 16_384;
export const INPUT_IMAGE_TYPES: readonly ImageContentType[] = ['image/png', 'image/jpeg', 'image/webp'];
const DECODE_TIMEOUT_MS = 20_000;
export const DEFAULT_SLOT_WAIT_MS = 10_000;
/** JPEG sizes sit after the APPn segments (EXIF, ICC): read this much of the file to find them. */
const HEAD_BYTES = 1024 * 1024;

const NAMES: Record<StillImageType, string> = { 'image/png': 'PNG', 'image/jpeg': 'JPEG', 'image/webp': 'WebP', 'image/gif': 'GIF' };
const DEMUXERS: Record<StillImageType, string> = { 'image/png': 'png_pipe', 'image/jpeg': 'jpeg_pipe', 'image/webp': 'webp_pipe', 'image/gif': 'gif' };

/** The image type from the first bytes, or null when it is not a PNG, JPEG or WebP. */
export function sniffImageType(bytes: Uint8Array): ImageContentType | null {
  const type = sniffContentType(Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 32)));
  return (INPUT_IMAGE_TYPES as readonly (string | null)[]).includes(type) ? (type as ImageContentType) : null;
}

/** A file name extension for the type ("png", "jpg", "webp", "gif"). */
export function imageExtension(contentType: StillImageType): string {
  return extensionOf(contentType);
}

function jpegSize(b: Buffer): { width: number; height: number } | null {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    i += 2;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue; // no length
    if (marker === 0xd9 || marker === 0xda) return null; // end of image or scan data before any frame header
    const len = b.readUInt16BE(i);
    // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: b.readUInt16BE(i + 3), width: b.readUInt16BE(i + 5) };
    }
    i += len;
  }
  return null;
}

function webpSize(b: Buffer): { width: number; height: number } | null {
  if (b.length < 30) return null;
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ' && b[23] === 0x9d && b[24] === 0x01 && b[25] === 0x2a) return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  if (chunk === 'VP8L' && b[20] === 0x2f) {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  return null;
}

/** Width and height as the image's header declares them, or null when it declares none. */
export function imageDimensions(head: Buffer, type: StillImageType): { width: number; height: number } | null {
  let size: { width: number; height: number } | null = null;
  if (type === 'image/png' && head.length >= 24 && head.toString('latin1', 12, 16) === 'IHDR') size = { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
  else if (type === 'image/jpeg') size = jpegSize(head);
  else if (type === 'image/webp') size = webpSize(head);
  else if (type === 'image/gif' && head.length >= 10) size = { width: head.readUInt16LE(6), height: head.readUInt16LE(8) };
  return size && size.width > 0 && size.height > 0 ? size : null;
}

/** The process's image check slots (exported for tests that fill them). */
// At most one check per core at once; a caller waits at most `slotWaitMs` (then ImageCheckBusyError).
export const imageDecodeSlots = new Slots(Math.max(1, os.availableParallelism()));

/**
 * Check that a file is a real image of an accepted type within the pixel limit.
 * Throws InvalidMediaError: IMAGE_TOO_MANY_PIXELS above `maxPixels` or with a side
 * longer than `maxSide` (judged from the header, before any decode); INVALID_IMAGE
 * when it is not an accepted type, does not decode (within the deadline) or is a
 * decompression bomb (see png-chunks.ts). ImageCheckBusyError when no decode slot
 * frees up within `slotWaitMs`. A caller abort rethrows `signal.reason`.
 */
export async function inspectImageFile(file: string, opts: ImageCheckOptions): Promise<ImageFacts> {
  const types = opts.types ?? INPUT_IMAGE_TYPES;
  const head = await readHead(file, HEAD_BYTES);
  const sniffed = sniffContentType(head) as StillImageType | null;
  if (!sniffed || !types.includes(sniffed)) {
    const names = types.map((t) => NAMES[t]);
    throw new InvalidMediaError('INVALID_IMAGE', `is not a ${names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names[0]} image`);
  }
  const size = imageDimensions(head, sniffed);
  if (!size) throw new InvalidMediaError('INVALID_IMAGE', `is not a readable ${NAMES[sniffed]} image: its header declares no size`);
  const maxSide = opts.maxSide ?? MAX_IMAGE_SIDE;
  if (size.width > maxSide || size.height > maxSide) {
    throw new InvalidMediaError('IMAGE_TOO_MANY_PIXELS', `is ${size.width}x${size.height}; at most ${maxSide} pixels wide and ${maxSide} high are accepted`);
  }
  const pixels = size.width * size.height;
  if (pixels > opts.maxPixels) {
    throw new InvalidMediaError('IMAGE_TOO_MANY_PIXELS', `is ${size.width}x${size.height} (${pixels} pixels); at most ${opts.maxPixels} pixels are accepted`);
  }
  const timeoutMs = opts.timeoutMs ?? DECODE_TIMEOUT_MS;
  const tooSlow = () => new InvalidMediaError('INVALID_IMAGE', `did not decode within ${Math.round(timeoutMs / 1000)} s`);
  // -max_pixels also stops the decoder itself, whatever the header claimed.
  const args = ['-hide_banner', '-nostdin', '-v', 'error', '-xerror', '-threads', '1', '-max_pixels', decoderPixelCap(opts.maxPixels), '-err_detect', 'explode', '-f', DEMUXERS[sniffed], '-i', `file:${file}`, '-frames:v', '1', '-f', 'null', '-'];
  const run = await imageDecodeSlots.run(
    async () => {
      if (sniffed !== 'image/png') return runTool(ffmpegPath(), args, { timeoutMs, signal: opts.signal });
      const deadline = AbortSignal.timeout(timeoutMs);
      const walkSignal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
      const walk = (part: 'metadata' | 'pixels') =>
        checkPngChunks(file, { part, signal: walkSignal }).catch((err: unknown) => {
          throw deadline.aborted && !opts.signal?.aborted ? tooSlow() : err;
        });
      // Metadata bombs are refused before ffmpeg sees them (it holds metadata whole, GBs);
      // pixel data is walked beside the decode (it only wastes time) and stops it when overlong.
      await walk('metadata');
      const stop = new AbortController();
      const pixels = walk('pixels').catch((err: unknown) => {
        stop.abort(err);
        throw err;
      });
      const [decoded] = await Promise.all([runTool(ffmpegPath(), args, { timeoutMs, signal: opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal }), pixels]);
      return decoded;
    },
    { maxWaitMs: opts.slotWaitMs ?? DEFAULT_SLOT_WAIT_MS, signal: opts.signal, onTimeout: (ms) => new ImageCheckBusyError(ms) },
  );
  if (run.timedOut) throw tooSlow();
  if (run.code !== 0) {
    const why = lastErrorLine(run.stderr.split(file).join('<image>'));
    throw new InvalidMediaError('INVALID_IMAGE', `does not decode as a ${NAMES[sniffed]} image${why ? ` (${why})` : ''}`);
  }
  return { contentType: sniffed, ...size };
}

/** inspectImageFile for bytes held in memory (through a private temporary file). */
export async function inspectImageBytes(bytes: Uint8Array, opts: ImageCheckOptions): Promise<ImageFacts> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'reelay-image-'));
  try {
    const file = path.join(dir, 'image');
    await fsp.writeFile(file, bytes);
    return await inspectImageFile(file, opts);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}
