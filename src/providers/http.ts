// fetch with a deadline and a uniform classification of what went wrong, so
// that every adapter reports upstream trouble the same way.
import { httpGet } from '../net/http-get.js';
import { UpstreamError } from './errors.js';

export interface UpstreamRequest {
  method?: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  headers?: Record<string, string>;
  /** Serialized as JSON unless it is a FormData. */
  body?: unknown;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Pull a readable message out of an error body; defaults to common shapes. */
  errorMessage?: (body: unknown) => string | undefined;
  /** Pull an upstream error code out of an error body. */
  errorCode?: (body: unknown) => string | undefined;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Message from the usual error envelopes: {detail}, {error:{message}}, {message}, {error}. */
export function defaultErrorMessage(body: unknown): string | undefined {
  if (typeof body === 'string') return body.trim() ? body.trim().slice(0, 500) : undefined;
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.detail === 'string') return b.detail;
  if (Array.isArray(b.detail)) {
    const parts = b.detail
      .map((d) => (d && typeof d === 'object' ? (d as Record<string, unknown>) : null))
      .filter((d): d is Record<string, unknown> => d !== null)
      .map((d) => [Array.isArray(d.loc) ? d.loc.join('.') : '', typeof d.msg === 'string' ? d.msg : ''].filter(Boolean).join(': '));
    if (parts.length) return parts.join('; ');
  }
  if (b.error && typeof b.error === 'object') {
    const m = (b.error as Record<string, unknown>).message;
    if (typeof m === 'string') return m;
  }
  if (typeof b.error === 'string') return b.error;
  if (typeof b.message === 'string') return b.message;
  return undefined;
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const n = Number(value);
  if (Number.isFinite(n) && n >= 0) return n;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, (date - Date.now()) / 1000) : undefined;
}

function errorCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Turn a thrown fetch error into an UpstreamError (or rethrow the caller's own abort). */
function networkError(err: unknown, url: string, timeoutMs: number, callerSignal?: AbortSignal): never {
  if (callerSignal?.aborted) throw callerSignal.reason ?? err;
  const name = (err as { name?: string })?.name;
  const host = safeHost(url);
  if (name === 'TimeoutError') {
    throw new UpstreamError({ code: 'UPSTREAM_TIMEOUT', message: `${host} did not answer within ${Math.round(timeoutMs / 1000)} s`, retryable: true, maybeCreated: true, cause: err });
  }
  const code = errorCodeOf(err);
  if (code && CONNECT_CODES.has(code)) {
    throw new UpstreamError({ code: 'UPSTREAM_UNREACHABLE', message: `cannot connect to ${host} (${code})`, retryable: true, maybeCreated: false, cause: err });
  }
  throw new UpstreamError({ code: 'UPSTREAM_NETWORK', message: `connection to ${host} failed${code ? ` (${code})` : ''}`, retryable: true, maybeCreated: true, cause: err });
}

export function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'upstream';
  }
}

/** Send a request; returns the raw Response only when it is 2xx. */
export async function upstreamFetch(url: string, req: UpstreamRequest): Promise<Response> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  let body: string | FormData | undefined;
  if (req.body instanceof FormData) body = req.body;
  else if (req.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.body);
  }
  let res: Response;
  try {
    res = await fetch(url, { method: req.method ?? 'GET', headers, body, signal, redirect: 'follow' });
  } catch (err) {
    networkError(err, url, req.timeoutMs, req.signal);
  }
  if (res.ok) return res;
  const text = await res.text().catch(() => '');
  throw answerError(url, req, res.status, text, res.headers.get('retry-after'));
}

/** The UpstreamError for a non-2xx answer. */
function answerError(url: string, req: UpstreamRequest, status: number, text: string, retryAfter: string | null): UpstreamError {
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* keep the text */
  }
  const message = (req.errorMessage ?? defaultErrorMessage)(parsed) ?? `${safeHost(url)} answered HTTP ${status}`;
  const upstreamCode = req.errorCode?.(parsed);
  // 429 and 503 are explicit refusals: nothing was created, try again later.
  const refused = status === 429 || status === 503;
  const retryable = refused || status === 408 || status >= 500;
  return new UpstreamError({
    code: upstreamCode ?? (status === 429 ? 'UPSTREAM_RATE_LIMITED' : status >= 500 ? 'UPSTREAM_ERROR' : `UPSTREAM_HTTP_${status}`),
    message,
    status,
    retryable,
    maybeCreated: !refused && status >= 500,
    retryAfterSeconds: parseRetryAfter(retryAfter),
  });
}

/** A GET (status polls, lookups) over kept-alive node:http connections: half the CPU of fetch. */
async function getJsonText(url: string, req: UpstreamRequest): Promise<{ status: number; text: string }> {
  let answer;
  try {
    answer = await httpGet(url, { headers: { accept: 'application/json', ...req.headers }, timeoutMs: req.timeoutMs, signal: req.signal });
  } catch (err) {
    networkError(err, url, req.timeoutMs, req.signal);
  }
  if (answer.status < 200 || answer.status > 299) {
    const retryAfter = answer.headers['retry-after'];
    throw answerError(url, req, answer.status, answer.body, Array.isArray(retryAfter) ? (retryAfter[0] ?? null) : (retryAfter ?? null));
  }
  return { status: answer.status, text: answer.body };
}

/** Send a request and parse a JSON answer; an unreadable 2xx body is a retryable, maybe-created error. */
export async function upstreamJson(url: string, req: UpstreamRequest): Promise<unknown> {
  let status: number;
  let text: string;
  if ((req.method ?? 'GET') === 'GET' && req.body === undefined) {
    ({ status, text } = await getJsonText(url, req));
  } else {
    const res = await upstreamFetch(url, req);
    status = res.status;
    try {
      text = await res.text();
    } catch (err) {
      networkError(err, url, req.timeoutMs, req.signal);
    }
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamError({ code: 'UPSTREAM_MALFORMED', message: `${safeHost(url)} answered with malformed JSON`, status, retryable: true, maybeCreated: true });
  }
}

/** Join a base URL and a path without losing the base's own path prefix. */
export function joinUrl(baseUrl: string, path: string): string {
  return baseUrl.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
}

/** Validate an upstream body against its documented shape; a mismatch is treated as a malformed answer. */
export function parseUpstream<T>(schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } } }, body: unknown, what: string, opts: { maybeCreated?: boolean } = {}): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  throw new UpstreamError({ code: 'UPSTREAM_MALFORMED', message: `unexpected ${what} from upstream`, retryable: true, maybeCreated: opts.maybeCreated ?? true });
}
