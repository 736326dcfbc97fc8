// Input images given as base64 or multipart upload: checked by content (PNG,
// JPEG, WebP), size in bytes and in pixels, and decoded once (bounded) before
// they are stored with the task, so no render or upstream ever gets a broken one.
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { TaskInputImage } from '../db/schema.js';
import { ImageCheckBusyError, InvalidMediaError } from '../media/errors.js';
import { DEFAULT_MAX_IMAGE_PIXELS, imageExtension, inspectImageFile } from '../media/image.js';
import { RateLimitedError, ValidationError } from '../errors.js';
import type { ImageSource } from '../tasks/validate-create.js';

export function decodeBase64Image(data: string): Buffer {
  const m = /^data:([\w/+.-]+)?(;[\w=.-]+)*;base64,(.*)$/s.exec(data.trim());
  const body = (m ? m[3]! : data).replace(/\s+/g, '');
  if (!body || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(body)) throw new ValidationError('image.base64', 'is not valid base64');
  return Buffer.from(body, body.includes('-') || body.includes('_') ? 'base64url' : 'base64');
}

const tooLarge = (field: string, maxBytes: number) => new ValidationError(field, `image is larger than ${maxBytes} bytes`, 'IMAGE_TOO_LARGE');

export interface StoreImageOptions {
  /** REELAY_MAX_IMAGE_BYTES. */
  maxBytes: number;
  /** REELAY_MAX_IMAGE_PIXELS; 40 MP when omitted. */
  maxPixels?: number;
  /** REELAY_IMAGE_CHECK_WAIT_MS: longest wait for a decode slot; 10 s when omitted. */
  slotWaitMs?: number;
}

/**
 * Check and store an uploaded or base64 image; URL images are kept as given (and
 * checked the same way when a provider fetches them). Throws ValidationError with
 * IMAGE_TOO_LARGE (bytes), IMAGE_TOO_MANY_PIXELS (pixels, or a side over 16384) or
 * INVALID_IMAGE (does not decode, or a decompression bomb), and RateLimitedError
 * IMAGE_CHECK_BUSY when no decode slot freed up in time.
 */
export async function storeInputImage(source: ImageSource, taskId: string, filesDir: string, opts: StoreImageOptions): Promise<TaskInputImage> {
  if (source.kind === 'url') return { kind: 'url', url: source.url };
  const { maxBytes, maxPixels = DEFAULT_MAX_IMAGE_PIXELS, slotWaitMs } = opts;
  let bytes: Buffer;
  let field: string;
  if (source.kind === 'base64') {
    field = 'image.base64';
    // Base64 is 4/3 of the bytes: refuse oversized strings before decoding them.
    if (source.data.length > Math.ceil((maxBytes * 4) / 3) + 256) throw tooLarge(field, maxBytes);
    bytes = decodeBase64Image(source.data);
  } else {
    field = 'image.file';
    if (source.file.size > maxBytes) throw tooLarge(field, maxBytes);
    bytes = Buffer.from(await source.file.arrayBuffer());
  }
  if (bytes.length > maxBytes) throw tooLarge(field, maxBytes);

  const dir = path.join(filesDir, taskId);
  const checking = path.join(dir, '.input-check');
  await fsp.mkdir(dir, { recursive: true });
  try {
    await fsp.writeFile(checking, bytes);
    const { contentType } = await inspectImageFile(checking, { maxPixels, slotWaitMs });
    const rel = `${taskId}/input.${imageExtension(contentType)}`;
    await fsp.rename(checking, path.join(filesDir, rel));
    return { kind: 'file', file: rel, contentType, sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  } catch (err) {
    // The task id is new: nothing else lives in its directory yet.
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
    if (err instanceof InvalidMediaError) throw new ValidationError(field, `image ${err.message}`, err.code);
    if (err instanceof ImageCheckBusyError) throw new RateLimitedError('IMAGE_CHECK_BUSY', err.message, 1);
    throw err;
  }
}

/**
 * The bytes of an input image stored with a task, as an upload (what retryTask
 * hands to the create path, which checks and stores it again for the new task);
 * null when the file is gone.
 */
export async function storedInputImageFile(image: TaskInputImage, filesDir: string): Promise<File | null> {
  if (image.kind !== 'file' || !image.file) return null;
  const full = path.resolve(filesDir, image.file);
  if (!full.startsWith(path.resolve(filesDir) + path.sep)) return null;
  try {
    const bytes = await fsp.readFile(full);
    return new File([bytes], path.basename(image.file), { type: image.contentType ?? 'application/octet-stream' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
