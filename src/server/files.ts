// GET/HEAD /files/<taskId>/<name>: stored results and input images, with
// single-range requests so browsers can seek in videos. Served under the type
// their extension names (always a media type or application/octet-stream) with nosniff.
// A file that file retention removed answers 410 Gone; an unknown one 404.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { typeOfExtension } from '../media/content-types.js';

const SAFE = /^\/files\/([0-9a-f-]{36})\/([A-Za-z0-9][A-Za-z0-9._-]{0,100})$/;

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string | number> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

/** Parse one `bytes=` range; undefined for a header we ignore, null when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return null;
  return { start, end };
}

/** Whether retention removed the files of task `taskId` (it still exists): a miss then answers 410, not 404. */
export type FilesExpired = (taskId: string) => Promise<boolean>;

const GONE = 'gone: this file was removed by file retention (REELAY_FILE_RETENTION_DAYS); the task remains, its result.fileExpired is true';

export async function serveFile(req: IncomingMessage, res: ServerResponse, filesDir: string, pathname: string, expired?: FilesExpired): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
  const m = SAFE.exec(pathname);
  if (!m || m[2]!.startsWith('.')) return plain(res, 404, 'not found');
  const file = path.join(filesDir, m[1]!, m[2]!);
  const missing = async () => ((await expired?.(m[1]!)) ? plain(res, 410, GONE) : plain(res, 404, 'not found'));
  let stat: fs.Stats;
  try {
    stat = await fsp.stat(file);
    if (!stat.isFile()) return plain(res, 404, 'not found');
  } catch {
    return missing();
  }
  const etag = `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
  const base = {
    // The type the file was stored under (see media/content-types.ts); never one a browser runs.
    'content-type': typeOfExtension(path.extname(file)),
    'x-content-type-options': 'nosniff',
    'accept-ranges': 'bytes',
    etag,
    'last-modified': stat.mtime.toUTCString(),
    'cache-control': 'private, max-age=3600',
  };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, base);
    return void res.end();
  }
  const ifRange = req.headers['if-range'];
  const range = ifRange && ifRange !== etag ? undefined : parseRange(req.headers.range, stat.size);
  if (range === null) return plain(res, 416, 'range not satisfiable', { 'content-range': `bytes */${stat.size}` });
  const { start, end } = range ?? { start: 0, end: stat.size - 1 };
  const headers = { ...base, 'content-length': stat.size === 0 ? 0 : end - start + 1, ...(range ? { 'content-range': `bytes ${start}-${end}/${stat.size}` } : {}) };
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || stat.size === 0) return void res.end();
  await pipeline(fs.createReadStream(file, { start, end }), res).catch(() => res.destroy());
}
