// Input images as bytes for upstreams that want them inline (base64 data URLs,
// multipart uploads): read from reelay's own storage (checked when the task was
// created) or fetched from a URL with a byte cap and the SSRF guard, and then
// decoded under the pixel limit like an upload, since reelay holds these bytes too.
import fsp from 'node:fs/promises';
import { UpstreamError, permanentError } from './errors.js';
import { ImageCheckBusyError, InvalidMediaError } from '../media/errors.js';
import { DEFAULT_MAX_IMAGE_PIXELS, inspectImageBytes, sniffImageType, type ImageContentType } from '../media/image.js';
import { safeFetchBytes } from '../net/safe-fetch.js';
import type { ImageInput } from './types.js';

export interface ImageBytes {
  bytes: Buffer;
  contentType: ImageContentType;
}

export interface ReadImageOptions {
  signal: AbortSignal;
  /** Largest accepted image; 10 MB when omitted. */
  maxBytes?: number;
  /** Largest accepted width × height of a fetched image (REELAY_MAX_IMAGE_PIXELS); 40 MP when omitted. */
  maxPixels?: number;
  /** Deadline for fetching a URL image; 30 s when omitted. */
  timeoutMs?: number;
  /** Longest wait for a free decode slot (then IMAGE_CHECK_BUSY, retryable); 10 s when omitted. */
  slotWaitMs?: number;
  /**
   * Hosts (names, `*.suffix`, IPs, CIDRs) a URL image may be fetched from even when
   * they resolve to a private or local address: the provider's `allowHosts`. None when omitted.
   */
  allowHosts?: readonly string[];
}

export const DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024;

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

/** A fetched image, decoded under the pixel limit: INVALID_IMAGE or IMAGE_TOO_MANY_PIXELS otherwise. */
async function decoded(bytes: Buffer, maxBytes: number, opts: ReadImageOptions): Promise<ImageBytes> {
  if (bytes.length > maxBytes) throw tooLarge(maxBytes);
  try {
    const { contentType } = await inspectImageBytes(bytes, { maxPixels: opts.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS, signal: opts.signal, slotWaitMs: opts.slotWaitMs });
    return { bytes, contentType: contentType as ImageContentType };
  } catch (err) {
    if (err instanceof InvalidMediaError) throw permanentError(err.code, `input image ${err.message}`);
    // Every decode slot stayed busy: nothing was judged, so try again later.
    if (err instanceof ImageCheckBusyError) throw new UpstreamError({ code: err.code, message: `input image not checked: ${err.message}`, retryable: true, maybeCreated: false });
    throw err;
  }
}

/**
 * Read an input image; fails with INVALID_IMAGE (permanent) when it is not a usable image,
 * IMAGE_TOO_MANY_PIXELS (permanent) when a fetched one is above the pixel limit,
 * IMAGE_URL_FORBIDDEN (permanent) when its URL points at a private or local address not in
 * `allowHosts`, IMAGE_FETCH_FAILED (retryable) on network trouble, and IMAGE_CHECK_BUSY
 * (retryable) when no decode slot freed up in time.
 */
export async function readImageBytes(image: ImageInput, opts: ReadImageOptions): Promise<ImageBytes> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  if (image.kind === 'file') return checked(await readFile(image.path, maxBytes), maxBytes);
  return decoded(await fetchCapped(image.url, maxBytes, opts), maxBytes, opts);
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

/** Fetch an http(s) image through the SSRF guard; data: URLs are decoded in place. */
async function fetchCapped(url: string, maxBytes: number, opts: ReadImageOptions): Promise<Buffer> {
  if (/^data:/i.test(url.trim())) return decodeDataUrl(url.trim(), maxBytes);
  const { bytes } = await safeFetchBytes(url, {
    allowHosts: opts.allowHosts ?? [],
    maxBytes,
    timeoutMs: opts.timeoutMs ?? 30_000,
    signal: opts.signal,
    accept: 'image/png, image/jpeg, image/webp, */*;q=0.5',
  });
  return bytes;
}

function decodeDataUrl(url: string, maxBytes: number): Buffer {
  const comma = url.indexOf(',');
  if (comma < 0) throw permanentError('INVALID_IMAGE', 'input image data URL is malformed');
  const meta = url.slice(5, comma);
  const data = url.slice(comma + 1);
  if (/;base64$/i.test(meta)) {
    if (Math.floor((data.length * 3) / 4) - 2 > maxBytes) throw tooLarge(maxBytes);
    return Buffer.from(data, 'base64');
  }
  if (data.length / 3 > maxBytes) throw tooLarge(maxBytes);
  return percentDecode(data);
}

/** Percent-decoding to raw bytes (decodeURIComponent insists on UTF-8). */
function percentDecode(s: string): Buffer {
  const parts: Buffer[] = [];
  let plain = '';
  for (let i = 0; i < s.length; i++) {
    const hex = s[i] === '%' ? s.slice(i + 1, i + 3) : '';
    if (/^[0-9a-f]{2}$/i.test(hex)) {
      if (plain) parts.push(Buffer.from(plain, 'utf8'));
      plain = '';
      parts.push(Buffer.from([parseInt(hex, 16)]));
      i += 2;
    } else plain += s[i];
  }
  if (plain) parts.push(Buffer.from(plain, 'utf8'));
  return Buffer.concat(parts);
}
