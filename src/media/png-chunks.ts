// A walk over a PNG's chunks that refuses decompression bombs. A PNG's size on
// disk says little about the work it asks for:
// ffmpeg inflates zTXt and iCCP chunks whole into memory (a 1 MB file whose zTXt
// inflates to 1 GB takes 3 GB and 14 s), keeps inflating pixel data after the
// last row, and files text chunks in a dictionary that grows quadratically
// (80,000 tiny tEXt chunks: 84 s). So every compressed metadata chunk is inflated
// here under a cap, the pixel data is inflated (streamed, nothing kept) up to what
// the declared size needs, and text chunks are counted. Anything else odd
// (truncation, bad CRCs, corrupt data) is left to the decoder to refuse. The
// metadata part runs before the decoder sees the file; the pixel part may run
// beside it (see PngCheckOptions).
import type { FileHandle } from 'node:fs/promises';
import fsp from 'node:fs/promises';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { InvalidMediaError } from './errors.js';

/** Most bytes one metadata chunk (zTXt, compressed iTXt, iCCP) may inflate to. */
export const MAX_METADATA_CHUNK_BYTES = 1024 * 1024;
/** Most bytes all metadata chunks of an image may inflate to together. */
export const MAX_METADATA_TOTAL_BYTES = 4 * 1024 * 1024;
/** Most tEXt, zTXt and iTXt chunks in one image (real images carry a handful). */
export const MAX_TEXT_CHUNKS = 256;
/** Pixel data may inflate this far past what the declared size needs (libpng only warns about a little extra). */
const PIXEL_SLACK_BYTES = 64 * 1024;
/** A compressed metadata chunk larger than this is refused unread: an honest one inflates to at least about what it holds. */
const MAX_COMPRESSED_READ = MAX_METADATA_CHUNK_BYTES + 64 * 1024;
const WINDOW = 64 * 1024;
const INFLATE_BATCH = 1024 * 1024;

const inflate = promisify(zlib.inflate);
const invalid = (message: string) => new InvalidMediaError('INVALID_IMAGE', message);

/** Reads a file front to back through a small window, so tiny chunks cost no syscall each. */
class FileWindow {
  private buf = Buffer.alloc(0);
  private start = 0;
  constructor(private readonly fh: FileHandle) {}
  /** Bytes [pos, pos + n), fewer at the end of the file. The returned buffer is never reused. */
  async bytes(pos: number, n: number): Promise<Buffer> {
    if (pos >= this.start && pos + n <= this.start + this.buf.length) return this.buf.subarray(pos - this.start, pos - this.start + n);
    const size = Math.max(n, WINDOW);
    const fresh = Buffer.alloc(size);
    const { bytesRead } = await this.fh.read(fresh, 0, size, pos);
    this.buf = fresh.subarray(0, bytesRead);
    this.start = pos;
    return this.buf.subarray(0, Math.min(n, bytesRead));
  }
}

/** Bytes of filtered scanlines a non-interlaced or Adam7 image of this header inflates to. */
export function pixelDataBytes(width: number, height: number, bitDepth: number, colorType: number, interlaced: boolean): number {
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  // An invalid depth or type: assume the largest pixel (16-bit RGBA); the decoder refuses it anyway.
  const bits = channels && [1, 2, 4, 8, 16].includes(bitDepth) ? channels * bitDepth : 64;
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bits) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;
  return passes.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
}

/** The compressed part of a metadata chunk, or null when it holds none (or is malformed: the decoder judges). */
function compressedPart(type: string, data: Buffer): Buffer | null {
  const nul = data.indexOf(0);
  if (nul < 0) return null;
  if (type === 'zTXt' || type === 'iCCP') return data.subarray(nul + 2); // keyword, NUL, method
  // iTXt: keyword, NUL, compression flag, method, language, NUL, translated keyword, NUL, text.
  if (data[nul + 1] !== 1) return null;
  const lang = data.indexOf(0, nul + 3);
  const translated = lang < 0 ? -1 : data.indexOf(0, lang + 1);
  return translated < 0 ? null : data.subarray(translated + 1);
}

/** How many bytes a zlib stream inflates to, or Infinity past `cap`; null when it is not a valid stream. */
async function inflatedSize(z: Buffer, cap: number): Promise<number | null> {
  try {
    return (await inflate(z, { maxOutputLength: cap })).length;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? Number.POSITIVE_INFINITY : null;
  }
}

/**
 * The pixel data inflated as it is walked, nothing kept: how many bytes it makes.
 * It stops (over) past `limit`, and gives up quietly on corrupt data, which the decoder refuses.
 */
class PixelInflate {
  private readonly z = zlib.createInflate({ chunkSize: INFLATE_BATCH });
  /** Pixel data is batched: encoders write it in chunks of a few KB, and each write is a trip to the thread pool. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  seen = 0;
  over = false;
  constructor(readonly limit: number) {
    this.z.on('data', (out: Buffer) => {
      this.seen += out.length;
      if (this.seen > limit) {
        this.over = true;
        this.z.destroy();
      }
    });
    this.z.on('error', () => {}); // corrupt: stop counting (destroyed), the decoder judges
  }
  /** Resolves once `piece` is taken in (or the stream has stopped). */
  async write(piece: Buffer): Promise<void> {
    if (this.z.destroyed || this.z.writableEnded) return;
    this.pending.push(piece);
    this.pendingBytes += piece.length;
    if (this.pendingBytes >= INFLATE_BATCH) await this.flush();
  }
  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const batch = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.z.destroyed && !this.z.write(batch)) await this.settled('drain');
  }
  /** Resolves once everything written is inflated (or the stream has stopped). */
  async end(): Promise<void> {
    if (this.z.destroyed || this.z.writableEnded) return;
    await this.flush();
    if (this.z.destroyed) return;
    const done = this.settled('end');
    this.z.end();
    await done;
  }
  destroy(): void {
    this.z.destroy();
  }
  private settled(event: 'drain' | 'end'): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.z.off(event, done).off('close', done);
        resolve();
      };
      this.z.on(event, done).on('close', done);
    });
  }
}

export interface PngCheckOptions {
  /**
   * 'metadata': text and ICC chunks, cheap, to run before any decoder sees the file
   * (it is memory they blow up). 'pixels': the pixel data, as costly as inflating
   * the image once, so it can run beside the decoder (it is only time they waste).
   */
  part: 'metadata' | 'pixels';
  /** The caller's, with the check's deadline: stops the walk with its reason. */
  signal?: AbortSignal;
}

/**
 * Walk a PNG file's chunks and throw InvalidMediaError (INVALID_IMAGE) when one of
 * them (of the part asked for) would make a decoder inflate far more than the image warrants.
 */
export async function checkPngChunks(file: string, opts: PngCheckOptions): Promise<void> {
  const { part, signal } = opts;
  const fh = await fsp.open(file, 'r');
  let pixels: PixelInflate | null = null;
  let header: { width: number; height: number; needed: number } | null = null;
  const overflow = () => {
    const h = header!;
    return invalid(`has pixel data that inflates to more than ${pixels!.limit} bytes; a ${h.width}x${h.height} image needs ${h.needed}`);
  };
  try {
    const w = new FileWindow(fh);
    let textChunks = 0;
    let metadataTotal = 0;
    for (let pos = 8; ; ) {
      signal?.throwIfAborted();
      const head = await w.bytes(pos, 8);
      if (head.length < 8) break; // truncated: the decoder judges
      const length = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      const data = pos + 8;
      if (type === 'IHDR' && length >= 13 && !header) {
        const b = await w.bytes(data, 13);
        if (b.length < 13) break;
        const [width, height] = [b.readUInt32BE(0), b.readUInt32BE(4)];
        header = { width, height, needed: pixelDataBytes(width, height, b[8]!, b[9]!, b[12] === 1) };
        if (part === 'pixels') pixels = new PixelInflate(header.needed + PIXEL_SLACK_BYTES);
      } else if (type === 'IDAT' && pixels) {
        for (let at = 0; at < length && !pixels.over; at += WINDOW) {
          const piece = await w.bytes(data + at, Math.min(WINDOW, length - at));
          if (piece.length === 0) break;
          await pixels.write(piece);
        }
        if (pixels.over) throw overflow();
      } else if (part === 'metadata' && (type === 'tEXt' || type === 'zTXt' || type === 'iTXt' || type === 'iCCP')) {
        if (type !== 'iCCP' && ++textChunks > MAX_TEXT_CHUNKS) throw invalid(`has more than ${MAX_TEXT_CHUNKS} text chunks`);
        if (type !== 'tEXt') {
          const z = compressedPart(type, await w.bytes(data, Math.min(length, MAX_COMPRESSED_READ)));
          const size = z ? await inflatedSize(z, MAX_METADATA_CHUNK_BYTES) : null;
          if (size === Number.POSITIVE_INFINITY || (z && length > MAX_COMPRESSED_READ)) throw invalid(`has a ${type} chunk that inflates to more than ${MAX_METADATA_CHUNK_BYTES} bytes`);
          metadataTotal += size ?? 0;
          if (metadataTotal > MAX_METADATA_TOTAL_BYTES) throw invalid(`has metadata chunks that inflate to more than ${MAX_METADATA_TOTAL_BYTES} bytes in total`);
        }
      } else if (type === 'IEND') break;
      pos = data + length + 4; // + CRC
    }
    await pixels?.end();
    if (pixels?.over) throw overflow();
  } finally {
    pixels?.destroy();
    await fh.close();
  }
}
