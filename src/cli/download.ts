// Saves a finished task's result (reelay's own /files URL) to disk: streamed
// to a temporary file next to the target and renamed, so a half download never
// has the final name; the size is checked against result.sizeBytes.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { NETWORK_ERROR, ReelayError, type VideoTask } from '../client/index.js';

const EXTENSIONS: Record<string, string> = {
  'video/mp4': 'mp4',
  'video/webm': 'webm',
  'video/quicktime': 'mov',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
};

/** `<task id>.<ext>`, the extension from the content type (else the URL's, else mp4). */
export function defaultFileName(task: VideoTask): string {
  const type = task.result?.contentType?.split(';')[0].trim().toLowerCase();
  const fromUrl = task.result ? path.extname(new URL(task.result.url).pathname).slice(1) : '';
  return `${task.id}.${(type && EXTENSIONS[type]) || fromUrl || 'mp4'}`;
}

/** Where --out points: a file, or a directory to put the default name in. */
export function targetPath(task: VideoTask, out: string | undefined): string {
  if (!out) return path.resolve(defaultFileName(task));
  const resolved = path.resolve(out);
  const isDir = out.endsWith(path.sep) || out.endsWith('/') || (fs.existsSync(resolved) && fs.statSync(resolved).isDirectory());
  return isDir ? path.join(resolved, defaultFileName(task)) : resolved;
}

/** Downloads the result to `file`; resolves with the bytes written. */
export async function downloadResult(task: VideoTask, file: string): Promise<number> {
  if (!task.result) throw new Error(`task ${task.id} has no result to download`);
  let res: Response;
  try {
    res = await fetch(task.result.url);
  } catch (e) {
    throw new ReelayError({ kind: 'network', code: NETWORK_ERROR, message: `cannot download ${task.result.url}: ${(e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message}`, cause: e });
  }
  if (!res.ok || !res.body) throw Object.assign(new Error(`downloading ${task.result.url}: HTTP ${res.status}`), { code: 'DOWNLOAD_FAILED' });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.part`;
  try {
    await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream), fs.createWriteStream(tmp));
    const size = fs.statSync(tmp).size;
    if (size !== task.result.sizeBytes) throw Object.assign(new Error(`downloaded ${size} bytes of ${task.result.sizeBytes}`), { code: 'DOWNLOAD_FAILED' });
    fs.renameSync(tmp, file);
    return size;
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
