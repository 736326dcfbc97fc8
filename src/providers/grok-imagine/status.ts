// Grok Imagine answers synchronously; its only documented status word is "completed".
// Also: how its error answers become UpstreamErrors.
import { statusLookup, type StatusMap } from '../status-map.js';
import { UpstreamError, isUpstreamError } from '../errors.js';

export type { NormalizedState } from '../status-map.js';

export const statusMap: StatusMap = Object.freeze({
  completed: 'completed',
});

export const mapStatus = statusLookup(statusMap);

/** HTTP statuses whose meaning does not depend on the body. */
const CODE_BY_STATUS: Readonly<Record<number, string>> = { 401: 'unauthorized', 403: 'forbidden', 422: 'validation_error' };

/**
 * Upstream answers that are final although HTTP 5xx: the synchronous call ended
 * and told us why. Not "maybe created" (there is nothing to look up later) and
 * not retried (a second call may bill a second generation).
 */
const FINAL_5XX_CODES: ReadonlySet<string> = new Set(['no_video_url', 'HTTP_ERROR']);

/**
 * Give HTTP-level errors the code callers can act on: unauthorized / forbidden /
 * validation_error by status, the upstream's own code otherwise (set by the
 * http helper). HTTP_ERROR wraps Grok's own status ("请求失败: 429 - ..."): that
 * one is retried when Grok refused for now (429/5xx).
 */
export function mapGrokError(err: unknown): unknown {
  if (!isUpstreamError(err) || err.status === undefined) return err;
  const byStatus = CODE_BY_STATUS[err.status];
  if (byStatus) return rewrap(err, byStatus, false, false);
  if (err.status >= 500 && FINAL_5XX_CODES.has(err.code)) {
    const inner = err.code === 'HTTP_ERROR' ? /(\d{3})/.exec(err.message)?.[1] : undefined;
    const transient = inner !== undefined && (inner === '429' || Number(inner) >= 500);
    return rewrap(err, err.code, transient, false);
  }
  return err;
}

function rewrap(err: UpstreamError, code: string, retryable: boolean, maybeCreated: boolean): UpstreamError {
  return new UpstreamError({ code, message: err.message, status: err.status, retryable, maybeCreated, retryAfterSeconds: err.retryAfterSeconds, cause: err });
}
