// Brings a finished result into reelay's own storage (upstream URLs expire):
// streamed to a temporary file through the SSRF-guarded fetch, checked to be
// the media it claims to be, then renamed into place.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extensionOf, storableType } from '../media/content-types.js';
import { InvalidMediaError } from '../media/errors.js';
import { validateMedia } from '../media/probe.js';
import { RESULT_FETCH, safeFetchToFile } from '../net/safe-fetch.js';
import { UpstreamError, permanentError } from '../net/upstream-error.js';
import type { ProviderResult } from '../providers/types.js';
import type { TaskResult } from '../db/schema.js';

export const DEFAULT_MAX_RESULT_BYTES = 2 * 1024 ** 3;

export interface StoreOptions {
  filesDir: string;
  taskId: string;
  signal: AbortSignal;
  /** REELAY_MAX_RESULT_BYTES: a larger result fails with RESULT_TOO_LARGE. */
  maxBytes: number;
  /** REELAY_MAX_IMAGE_PIXELS: the largest frame probed or decoded. */
  maxPixels: number;
  timeoutMs: number;
  /**
   * Where a result URL may point besides public addresses: the provider's own
   * `baseUrl` origin (self-hosted upstreams sit on private addresses) and its `allowHosts`.
   */
  provider: { baseUrl?: string; allowHosts: readonly string[] };
}

function byteLimit(maxBytes: number): Transform & { seen: number } {
  let seen = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > maxBytes) cb(permanentError('RESULT_TOO_LARGE', `result is larger than ${maxBytes} bytes`));
      else cb(null, chunk);
    },
  });
  return Object.defineProperty(limit, 'seen', { get: () => seen }) as Transform & { seen: number };
}

/** Fetch a result URL into `dest`; a refused URL is named in full, since it belongs to the task's owner. */
async function download(source: { url: string; headers?: Record<string, string> }, dest: string, opts: StoreOptions): Promise<number> {
  try {
    const { sizeBytes } = await safeFetchToFile(source.url, dest, {
      purpose: RESULT_FETCH,
      allowHosts: opts.provider.allowHosts,
      trustedOrigins: opts.provider.baseUrl ? [opts.provider.baseUrl] : [],
      headers: source.headers,
      accept: '*/*',
      maxBytes: opts.maxBytes,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
    });
    return sizeBytes;
  } catch (err) {
    if (err instanceof UpstreamError && err.code === RESULT_FETCH.codes.forbidden) {
      throw permanentError(err.code, `reelay refused to download the result from ${source.url}: ${err.message}`);
    }
    throw err;
  }
}

/** Download or move the result into filesDir/<taskId>/, check it, and describe it. */
export async function storeResult(result: ProviderResult, opts: StoreOptions): Promise<TaskResult> {
  const dir = path.join(opts.filesDir, opts.taskId);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.download-${process.pid}-${Date.now()}`);
  const upstreamUrl = result.source.kind === 'url' ? result.source.url : null;
  try {
    // The bytes written, counted on the way: an empty result is refused without reading the file again.
    let written: number;
    if (result.source.kind === 'file') {
      const limit = byteLimit(opts.maxBytes);
      await pipeline(fs.createReadStream(result.source.path), limit, fs.createWriteStream(tmp), { signal: opts.signal });
      written = limit.seen;
    } else {
      written = await download(result.source, tmp, opts);
    }
    if (written === 0) throw new UpstreamError({ code: 'DOWNLOAD_FAILED', message: 'the result file is empty', retryable: true, maybeCreated: false });
    const facts = await validateMedia(tmp, result.mediaType, { maxPixels: opts.maxPixels, signal: opts.signal }).catch((err: unknown) => {
      if (!(err instanceof InvalidMediaError)) throw err;
      throw permanentError('INVALID_RESULT', `the result${upstreamUrl ? ` downloaded from ${upstreamUrl}` : ''} ${err.message}`);
    });
    // The type is what the content is (magic bytes, else ffprobe's demuxer), never the
    // upstream's claim: the stored name and the type /files/ serves follow from it.
    const contentType = storableType(facts.contentType);
    const name = `result.${extensionOf(contentType)}`;
    const finalPath = path.join(dir, name);
    await fsp.rename(tmp, finalPath);
    if (result.source.kind === 'file') await fsp.rm(result.source.path, { force: true }).catch(() => {});
    return { file: `${opts.taskId}/${name}`, upstreamUrl, contentType, sizeBytes: written, durationSeconds: facts.durationSeconds, width: facts.width, height: facts.height };
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    if (err instanceof UpstreamError) throw err;
    if (opts.signal.aborted) throw err;
    // Filesystem and stream errors: worth another try.
    throw new UpstreamError({ code: 'DOWNLOAD_FAILED', message: `could not store the result: ${(err as Error).message}`, retryable: true, maybeCreated: false, cause: err });
  }
}

/** Remove everything stored for a task (a poster being made meanwhile may add a file: tried again). */
export async function removeTaskFiles(filesDir: string, taskId: string): Promise<void> {
  await fsp.rm(path.join(filesDir, taskId), { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
}
