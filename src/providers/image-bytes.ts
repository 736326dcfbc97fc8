// Input images as bytes for upstreams that want them inline (base64 data URLs,
// multipart uploads): read from reelay's own storage or fetched from a URL with
// a byte cap, and checked by content to be a PNG, JPEG or WebP.
import fsp from 'node:fs/promises';
import { UpstreamError, permanentError } from './errors.js';
import { safeHost } from './http.js';
import type { ImageInput } from './types.js';

export type ImageContentType = 'image/png' | 'image/jpeg' | 'image/webp';

export interface ImageBytes {
  bytes: Buffer;
  contentType: ImageContentType;
}

export interface ReadImageOptions {
  signal: AbortSignal;
  /** Largest accepted image; 10 MB when omitted. */
  maxBytes?: number;
  /** Deadline for fetching a URL image; 30 s when omitted. */
  timeoutMs?: number;
}

export const DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024;

const EXTENSIONS: Record<ImageContentType, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp' };

/** The image type from the first bytes, or null when it is not a PNG, JPEG or WebP. */
export function sniffImageType(bytes: Uint8Array): ImageContentType | null {
  const b = bytes;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

function ascii(b: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...b.subarray(from, to));
}

/** A file name extension for the type ("png", "jpg", "webp"). */
export function imageExtension(contentType: ImageContentType): string {
  return EXTENSIONS[contentType];
}

export function toDataUrl(bytes: Uint8Array, contentType: ImageContentType): string {
  return `data:${contentType};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

function tooLarge(maxBytes: number): UpstreamError {
  return permanentError('INVALID_IMAGE', `input image is larger than ${maxBytes} bytes`);
}

function checked(bytes: Buffer, maxBytes: number): ImageBytes {
  if (bytes.length > maxBytes) throw tooLarge(maxBytes);
  const contentType = sniffImageType(bytes);
  if (!contentType) throw permanentError('INVALID_IMAGE', 'input image is not a PNG, JPEG or WebP image');
  return { bytes, contentType };
}

/** Read an input image; fails with INVALID_IMAGE (permanent) when it is not a usable image. */
export async function readImageBytes(image: ImageInput, opts: ReadImageOptions): Promise<ImageBytes> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  if (image.kind === 'file') return checked(await readFile(image.path, maxBytes), maxBytes);
  return checked(await fetchCapped(image.url, maxBytes, opts), maxBytes);
}

async function readFile(path: string, maxBytes: number): Promise<Buffer> {
  try {
    const { size } = await fsp.stat(path);
    if (size > maxBytes) throw tooLarge(maxBytes);
    return await fsp.readFile(path);
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    throw permanentError('INVALID_IMAGE', `input image file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** Fetch failures before anything reached the upstream: retryable, never "maybe created". */
function fetchTrouble(message: string, cause?: unknown): UpstreamError {
  return new UpstreamError({ code: 'IMAGE_FETCH_FAILED', message, retryable: true, maybeCreated: false, cause });
}

async function fetchCapped(url: string, maxBytes: number, opts: ReadImageOptions): Promise<Buffer> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw permanentError('INVALID_IMAGE', 'input image URL is not a valid URL');
  }
  if (!['http:', 'https:', 'data:'].includes(parsed.protocol)) throw permanentError('INVALID_IMAGE', `input image URL scheme ${parsed.protocol} is not supported`);
  const host = parsed.protocol === 'data:' ? 'data URL' : safeHost(url);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const signal = AbortSignal.any([opts.signal, AbortSignal.timeout(timeoutMs)]);
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'image/png, image/jpeg, image/webp, */*;q=0.5' }, signal, redirect: 'follow' });
  } catch (err) {
    if (opts.signal.aborted) throw opts.signal.reason ?? err;
    throw fetchTrouble(`cannot fetch the input image from ${host}`, err);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    const transient = res.status === 408 || res.status === 429 || res.status >= 500;
    if (transient) throw fetchTrouble(`the input image host ${host} answered HTTP ${res.status}`);
    throw permanentError('INVALID_IMAGE', `the input image host ${host} answered HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(maxBytes);
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge(maxBytes);
      }
      chunks.push(Buffer.from(value));
    }
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    if (opts.signal.aborted) throw opts.signal.reason ?? err;
    throw fetchTrouble(`reading the input image from ${host} failed`, err);
  }
  return Buffer.concat(chunks, total);
}
