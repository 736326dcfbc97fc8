// Fetch a user-supplied URL without letting it reach reelay's own network (SSRF):
// every hop is checked (scheme, host, and the addresses DNS actually returns, in
// the socket's own lookup so a rebinding DNS answer cannot slip through), the body
// is capped and the whole fetch has one deadline.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { UpstreamError, permanentError } from '../providers/errors.js';
import { hostAllowed, isMetadataHostname, isPublicAddress, normalizeHost } from './address-policy.js';

export interface SafeFetchOptions {
  /** Host names, `*.suffix` wildcards, IPs or CIDRs that may be fetched even when private. */
  allowHosts: readonly string[];
  /** Largest accepted body; larger answers fail with INVALID_IMAGE. */
  maxBytes: number;
  /** Deadline for the whole fetch, redirects included. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Accept header; images by default. */
  accept?: string;
}

export interface SafeFetchResult {
  bytes: Buffer;
  contentType: string | null;
  /** The URL the bytes came from after redirects (may carry a query: do not log it as is). */
  finalUrl: string;
}

/** Redirects followed before giving up. */
export const MAX_REDIRECTS = 5;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_ACCEPT = 'image/png, image/jpeg, image/webp, */*;q=0.5';

/** scheme://host/path of a URL: no credentials, query or fragment, so safe to show and log. */
export function redactUrl(url: URL | string): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    const path = u.pathname.length > 200 ? `${u.pathname.slice(0, 200)}…` : u.pathname;
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    return 'an invalid URL';
  }
}

function forbidden(host: string): UpstreamError {
  return permanentError(
    'IMAGE_URL_FORBIDDEN',
    `image URL host ${host} resolves to a private or local address; reelay does not fetch from such addresses unless the provider's allowHosts lists the host`,
  );
}

function tooLarge(maxBytes: number): UpstreamError {
  return permanentError('INVALID_IMAGE', `input image is larger than ${maxBytes} bytes`);
}

/** Trouble on the way (network, timeout, 5xx): retryable, and nothing reached an upstream. */
function fetchTrouble(message: string, status?: number, cause?: unknown): UpstreamError {
  return new UpstreamError({ code: 'IMAGE_FETCH_FAILED', message, status, retryable: true, maybeCreated: false, cause });
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Refuse a URL before connecting: scheme, credentials, IP literals and metadata names. */
function checkTarget(u: URL, allowHosts: readonly string[]): void {
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw permanentError('INVALID_IMAGE', `input image URL scheme ${u.protocol} is not supported (http and https only)`);
  }
  if (u.username || u.password) throw permanentError('INVALID_IMAGE', 'input image URLs must not carry credentials');
  const host = normalizeHost(u.hostname);
  if (hostAllowed(host, allowHosts)) return;
  // IP literals never go through DNS, so they are judged here; names are judged at lookup.
  if (isIP(host) ? !isPublicAddress(host) : isMetadataHostname(host)) throw forbidden(host);
}

/**
 * The socket's DNS lookup: resolves every address and refuses the connection unless
 * all of them are public (or allowed), so the address checked is the one connected to.
 */
function guardedLookup(allowHosts: readonly string[]): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family, hints: options.hints }, (err, addresses) => {
      if (err) return callback(err, '');
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      if (!hostAllowed(hostname, allowHosts)) {
        const refused = addresses.some((a) => !isPublicAddress(a.address) && !hostAllowed(a.address, allowHosts));
        if (refused) return callback(forbidden(normalizeHost(hostname)), '');
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

type Hop = { kind: 'redirect'; location: string } | { kind: 'body'; bytes: Buffer; contentType: string | null };

/** One request: a redirect target or the capped body. */
function hop(u: URL, opts: SafeFetchOptions, signal: AbortSignal, abortError: (where: string) => unknown): Promise<Hop> {
  const where = redactUrl(u);
  return new Promise<Hop>((resolve, reject) => {
    let settled = false;
    const finish = (err: unknown, value?: Hop) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    const onAbort = () => finish(abortError(where));
    const failed = (err: unknown) => finish(err instanceof UpstreamError ? err : fetchTrouble(`cannot fetch the input image from ${where}${errorCode(err) ? ` (${errorCode(err)})` : ''}`, undefined, err));

    const client = u.protocol === 'https:' ? https : http;
    const req = client.request(
      {
        protocol: u.protocol,
        hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        method: 'GET',
        headers: { accept: opts.accept ?? DEFAULT_ACCEPT, 'accept-encoding': 'identity', 'user-agent': 'reelay' },
        agent: false, // a fresh connection per hop: always through the guarded lookup
        lookup: guardedLookup(opts.allowHosts),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (REDIRECT_STATUSES.has(status) && location) return finish(undefined, { kind: 'redirect', location });
        if (status < 200 || status >= 300) {
          const message = `the input image host answered HTTP ${status} for ${where}`;
          const transient = status === 408 || status === 429 || status >= 500;
          return finish(transient ? fetchTrouble(message, status) : permanentError('INVALID_IMAGE', message, status));
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > opts.maxBytes) return finish(tooLarge(opts.maxBytes));
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > opts.maxBytes) return finish(tooLarge(opts.maxBytes));
          chunks.push(chunk);
        });
        res.on('end', () => finish(undefined, { kind: 'body', bytes: Buffer.concat(chunks, total), contentType: res.headers['content-type'] ?? null }));
        res.on('error', failed);
        res.on('close', () => {
          if (!res.complete) failed(Object.assign(new Error('connection closed before the end of the body'), { code: 'ECONNRESET' }));
        });
      },
    );
    req.on('error', failed);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

/**
 * GET a user-supplied http(s) URL with SSRF protection, a byte cap and a deadline.
 * Throws UpstreamError: IMAGE_URL_FORBIDDEN (private/local target), INVALID_IMAGE
 * (bad URL or scheme, too large, 4xx, too many redirects; permanent) or
 * IMAGE_FETCH_FAILED (network trouble, timeout, 5xx, 408, 429; retryable). A
 * caller abort rethrows `signal.reason`.
 */
export async function safeFetchBytes(url: string, opts: SafeFetchOptions): Promise<SafeFetchResult> {
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw permanentError('INVALID_IMAGE', 'input image URL is not a valid URL');
  }
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const abortError = (where: string): unknown => {
    if (opts.signal?.aborted) return opts.signal.reason ?? new Error('aborted');
    return fetchTrouble(`the input image from ${where} did not arrive within ${Math.round(opts.timeoutMs / 100) / 10} s`);
  };

  for (let redirects = 0; ; redirects++) {
    checkTarget(current, opts.allowHosts);
    if (signal.aborted) throw abortError(redactUrl(current));
    const answer = await hop(current, opts, signal, abortError);
    if (answer.kind === 'body') return { bytes: answer.bytes, contentType: answer.contentType, finalUrl: current.href };
    if (redirects >= MAX_REDIRECTS) throw permanentError('INVALID_IMAGE', `too many redirects (more than ${MAX_REDIRECTS}) fetching the input image from ${redactUrl(url)}`);
    try {
      current = new URL(answer.location, current);
    } catch {
      throw permanentError('INVALID_IMAGE', `the input image host redirected ${redactUrl(current)} to an invalid URL`);
    }
  }
}
