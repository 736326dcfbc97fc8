// Input images given as base64 or multipart upload: checked by content (PNG,
// JPEG, WebP) and size, then stored with the task.
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { TaskInputImage } from '../db/schema.js';
import { imageExtension, sniffImageType } from '../providers/image-bytes.js';
import { ValidationError } from '../errors.js';
import type { ImageSource } from '../tasks/validate-create.js';

export function decodeBase64Image(data: string): Buffer {
  const m = /^data:([\w/+.-]+)?(;[\w=.-]+)*;base64,(.*)$/s.exec(data.trim());
  const body = (m ? m[3]! : data).replace(/\s+/g, '');
  if (!body || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(body)) throw new ValidationError('image.base64', 'is not valid base64');
  return Buffer.from(body, body.includes('-') || body.includes('_') ? 'base64url' : 'base64');
}

function checkImage(bytes: Buffer, field: string, maxBytes: number) {
  if (bytes.length > maxBytes) throw new ValidationError(field, `image is larger than ${maxBytes} bytes`, 'IMAGE_TOO_LARGE');
  const type = sniffImageType(bytes);
  if (!type) throw new ValidationError(field, 'is not a PNG, JPEG or WebP image', 'INVALID_IMAGE');
  return type;
}

/** Check and store an uploaded or base64 image; URL images are kept as given. */
export async function storeInputImage(source: ImageSource, taskId: string, filesDir: string, maxBytes: number): Promise<TaskInputImage> {
  if (source.kind === 'url') return { kind: 'url', url: source.url };
  let bytes: Buffer;
  let field: string;
  if (source.kind === 'base64') {
    field = 'image.base64';
    // Base64 is 4/3 of the bytes: refuse oversized strings before decoding them.
    if (source.data.length > Math.ceil((maxBytes * 4) / 3) + 256) throw new ValidationError(field, `image is larger than ${maxBytes} bytes`, 'IMAGE_TOO_LARGE');
    bytes = decodeBase64Image(source.data);
  } else {
    field = 'image.file';
    if (source.file.size > maxBytes) throw new ValidationError(field, `image is larger than ${maxBytes} bytes`, 'IMAGE_TOO_LARGE');
    bytes = Buffer.from(await source.file.arrayBuffer());
  }
  const contentType = checkImage(bytes, field, maxBytes);
  const rel = `${taskId}/input.${imageExtension(contentType)}`;
  await fsp.mkdir(path.join(filesDir, taskId), { recursive: true });
  await fsp.writeFile(path.join(filesDir, rel), bytes);
  return { kind: 'file', file: rel, contentType, sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}
