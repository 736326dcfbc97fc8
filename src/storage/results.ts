// Brings a finished result into reelay's own storage (upstream URLs expire):
// streamed to a temporary file, renamed into place, then probed.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { probeMedia, readHead, sniffContentType } from '../media/probe.js';
import { UpstreamError } from '../providers/errors.js';
import { upstreamFetch } from '../providers/http.js';
import type { ProviderResult } from '../providers/types.js';
import type { TaskResult } from '../db/schema.js';

const EXT: Record<string, string> = {
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
};

export interface StoreOptions {
  filesDir: string;
  taskId: string;
  signal: AbortSignal;
  maxBytes: number;
  timeoutMs: number;
}

function byteLimit(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > maxBytes) cb(new UpstreamError({ code: 'RESULT_TOO_LARGE', message: `result is larger than ${maxBytes} bytes`, retryable: false, maybeCreated: false }));
      else cb(null, chunk);
    },
  });
}

/** Download or move the result into filesDir/<taskId>/; returns the stored result's description. */
export async function storeResult(result: ProviderResult, opts: StoreOptions): Promise<TaskResult> {
  const dir = path.join(opts.filesDir, opts.taskId);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.download-${process.pid}-${Date.now()}`);
  let headerType: string | null = null;
  let upstreamUrl: string | null = null;
  try {
    if (result.source.kind === 'file') {
      await pipeline(fs.createReadStream(result.source.path), byteLimit(opts.maxBytes), fs.createWriteStream(tmp), { signal: opts.signal });
    } else {
      upstreamUrl = result.source.url;
      const res = await upstreamFetch(result.source.url, {
        headers: { accept: '*/*', ...result.source.headers },
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
      });
      headerType = res.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? null;
      if (!res.body) throw new UpstreamError({ code: 'DOWNLOAD_FAILED', message: 'result download had no body', retryable: true, maybeCreated: false });
      await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), byteLimit(opts.maxBytes), fs.createWriteStream(tmp), { signal: opts.signal });
    }
    const head = await readHead(tmp, 32);
    if (head.length === 0) throw new UpstreamError({ code: 'DOWNLOAD_FAILED', message: 'the result file is empty', retryable: true, maybeCreated: false });
    const sniffed = sniffContentType(head);
    const contentType = sniffed ?? (headerType && headerType !== 'application/octet-stream' ? headerType : null) ?? result.contentType ?? 'application/octet-stream';
    const name = `result.${EXT[contentType] ?? 'bin'}`;
    const finalPath = path.join(dir, name);
    await fsp.rename(tmp, finalPath);
    const { size } = await fsp.stat(finalPath);
    const probed = await probeMedia(finalPath, opts.signal);
    if (result.source.kind === 'file') await fsp.rm(result.source.path, { force: true }).catch(() => {});
    return {
      file: `${opts.taskId}/${name}`,
      upstreamUrl,
      contentType,
      sizeBytes: size,
      durationSeconds: probed.durationSeconds ?? result.durationSeconds ?? null,
      width: probed.width ?? result.width ?? null,
      height: probed.height ?? result.height ?? null,
    };
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    if (err instanceof UpstreamError) throw err;
    if (opts.signal.aborted) throw err;
    // Filesystem and stream errors: worth another try.
    throw new UpstreamError({ code: 'DOWNLOAD_FAILED', message: `could not store the result: ${(err as Error).message}`, retryable: true, maybeCreated: false, cause: err });
  }
}

/** Remove everything stored for a task. */
export async function removeTaskFiles(filesDir: string, taskId: string): Promise<void> {
  await fsp.rm(path.join(filesDir, taskId), { recursive: true, force: true });
}
