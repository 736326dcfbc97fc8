// Expiring /files/ links (REELAY_FILE_URL_TTL_SECONDS + REELAY_FILE_URL_SECRET):
// `?expires=<unix seconds>&signature=<base64url HMAC-SHA256 over path and expiry>`,
// like an object store's presigned URL. Every replica shares the secret, so any
// of them accepts a link another one handed out.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface FileUrlSigning {
  /** At least 32 characters; never logged or returned. */
  secret: string;
  /** How long a link handed out stays valid, at least. */
  ttlSeconds: number;
}

/**
 * The expiry of a link made at `nowMs` valid for at least `ttlSeconds`: rounded up
 * to a step of a tenth of the TTL, so every link made within one step is the same
 * string (clients and caches see one URL for a while) and lives at most 1.1 × TTL.
 */
export function linkExpiry(nowMs: number, ttlSeconds: number): number {
  const step = Math.max(1, Math.floor(ttlSeconds / 10));
  return Math.ceil((Math.floor(nowMs / 1000) + ttlSeconds) / step) * step;
}

function mac(secret: string, pathname: string, expires: number): Buffer {
  return createHmac('sha256', secret).update(`${pathname}\n${expires}`).digest();
}

/** The query string (with `?`) that signs `pathname` (e.g. `/files/<id>/result.mp4`) until `expires`. */
export function signatureQuery(secret: string, pathname: string, expires: number): string {
  return `?expires=${expires}&signature=${mac(secret, pathname, expires).toString('base64url')}`;
}

/** `pathname` with a signature valid for at least `ttlSeconds` (default: the configured TTL) from `nowMs`. */
export function signFilePath(signing: FileUrlSigning, pathname: string, opts: { ttlSeconds?: number; nowMs?: number } = {}): string {
  const expires = linkExpiry(opts.nowMs ?? Date.now(), Math.max(signing.ttlSeconds, opts.ttlSeconds ?? 0));
  return pathname + signatureQuery(signing.secret, pathname, expires);
}

/** The /files/ path of a stored file (`<taskId>/<name>`), its segments URL-encoded. */
export function filePath(file: string): string {
  return `/files/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * reelay's absolute link to a stored file on `origin`: signed, valid for at least
 * the configured TTL (or `ttlSeconds` when longer) from now, when signed links are
 * configured; else the plain capability link. The API, webhooks and the links
 * handed to upstreams all make theirs here.
 */
export function fileLink(origin: string, file: string, signing: FileUrlSigning | undefined, opts: { ttlSeconds?: number } = {}): string {
  const pathname = filePath(file);
  return origin + (signing ? signFilePath(signing, pathname, opts) : pathname);
}

export type LinkVerdict = 'ok' | 'unsigned' | 'invalid' | 'expired';

/**
 * Judge a request for `pathname` with its query string (`search`, with or without
 * `?`). Other query parameters are ignored. The signature is compared in constant
 * time; an expired link is told apart only once its signature holds.
 */
export function verifyFileLink(secret: string, pathname: string, search: string, nowMs = Date.now()): LinkVerdict {
  const params = new URLSearchParams(search);
  const expiresText = params.get('expires');
  const signature = params.get('signature');
  if (expiresText === null && signature === null) return 'unsigned';
  if (!expiresText || !signature || !/^\d{1,15}$/.test(expiresText) || !/^[A-Za-z0-9_-]{43}$/.test(signature)) return 'invalid';
  const expires = Number(expiresText);
  const given = Buffer.from(signature, 'base64url');
  const wanted = mac(secret, pathname, expires);
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return 'invalid';
  return Math.floor(nowMs / 1000) < expires ? 'ok' : 'expired';
}
