// The one fetch for URLs that come from outside (input images, upstream results),
// so they cannot reach reelay's own network (SSRF): every hop is checked (scheme,
// host, and the addresses DNS actually returns, in the socket's own lookup so a
// rebinding DNS answer cannot slip through), the body is capped and the whole
// fetch, body included, has one deadline. Bodies are read into memory
// (safeFetchBytes) or streamed to a file (safeFetchToFile), never both.
// safePost sends a body (webhook deliveries) through the same checks, without
// following redirects.
import dns from 'node:dns';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { type LookupFunction } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UpstreamError, permanentError } from './upstream-error.js';
import { forbiddenBeforeLookup, hostAllowed, isPublicAddress, normalizeHost } from './address-policy.js';
import { keepOneSecondHints } from './http-get.js';

/** What is fetched: the words of messages and the codes of failures. */
export interface FetchPurpose {
  /** "input image", "result". */
  noun: string;
  /** What lets a private host through, for the refusal message. */
  allowHint: string;
  /** What reelay does not do with such addresses ("fetch from" by default). */
  refusedVerb?: string;
  codes: {
    /** A private, local or metadata address that is not allowed. */
    forbidden: string;
    /** Not a valid http(s) URL (also after a redirect), or one with credentials. */
    badUrl: string;
    /** A permanent refusal: 4xx, too many redirects, a broken redirect. */
    refused: string;
    /** Larger than maxBytes. */
    tooLarge: string;
    /** Network trouble, timeout, 5xx, 408, 429: retryable. */
    trouble: string;
  };
}

export const IMAGE_FETCH: FetchPurpose = {
  noun: 'input image',
  allowHint: "unless the provider's allowHosts lists the host",
  codes: { forbidden: 'IMAGE_URL_FORBIDDEN', badUrl: 'INVALID_IMAGE', refused: 'INVALID_IMAGE', tooLarge: 'INVALID_IMAGE', trouble: 'IMAGE_FETCH_FAILED' },
};

export const RESULT_FETCH: FetchPurpose = {
  noun: 'result',
  allowHint: "unless the URL is on the provider's own baseUrl origin or its allowHosts lists the host",
  codes: { forbidden: 'RESULT_URL_FORBIDDEN', badUrl: 'RESULT_URL_FORBIDDEN', refused: 'DOWNLOAD_FAILED', tooLarge: 'RESULT_TOO_LARGE', trouble: 'DOWNLOAD_FAILED' },
};

export const WEBHOOK_FETCH: FetchPurpose = {
  noun: 'webhook',
  allowHint: 'unless REELAY_WEBHOOK_ALLOW_HOSTS lists the host',
  refusedVerb: 'deliver to',
  codes: { forbidden: 'WEBHOOK_URL_FORBIDDEN', badUrl: 'WEBHOOK_URL_FORBIDDEN', refused: 'WEBHOOK_REFUSED', tooLarge: 'WEBHOOK_REFUSED', trouble: 'WEBHOOK_FAILED' },
};

export interface SafeFetchOptions {
  /** Host names, `*.suffix` wildcards, IPs or CIDRs that may be fetched even when private. */
  allowHosts: readonly string[];
  /**
   * Origins (scheme://host:port) the operator configured, e.g. a provider's baseUrl:
   * URLs on them may resolve to any address. Every other origin follows allowHosts.
   */
  trustedOrigins?: readonly string[];
  /** Largest accepted body. */
  maxBytes: number;
  /** Deadline for the whole fetch, redirects and body included. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Accept header; images by default. */
  accept?: string;
  /**
   * Extra request headers (e.g. the upstream's Authorization). Sent only to the
   * origin of the first URL: a redirect to another origin drops them for good.
   */
  headers?: Record<string, string>;
  /** Codes and wording of failures; input images by default. */
  purpose?: FetchPurpose;
}

export interface SafeFetchResult {
  bytes: Buffer;
  contentType: string | null;
  /** The URL the bytes came from after redirects (may carry a query: do not log it as is). */
  finalUrl: string;
}

export interface SafeFileResult {
  sizeBytes: number;
  contentType: string | null;
  finalUrl: string;
}

/**
 * Kept-alive connections for GETs from a trusted origin (a provider's own
 * baseUrl, connected to as configured, with no address check to repeat): a
 * burst of finished jobs downloads thousands of results from its upstream, and
 * a fresh connection for each (connect, socket set-up, close) was a tenth of
 * the event loop's work while they finished (bench/jobs.ts, 10,000 jobs).
 * Every other hop, and every request with a body, still gets a connection of
 * its own through the guarded lookup. An idle socket goes after 30 s or when
 * the server closes it.
 */
const trustedAgents = {
  // A server announcing a one-second keep-alive has its sockets kept half a second (http-get.ts), not dropped.
  'http:': keepOneSecondHints(new http.Agent({ keepAlive: true, maxFreeSockets: 256, timeout: 30_000 })),
  'https:': keepOneSecondHints(new https.Agent({ keepAlive: true, maxFreeSockets: 256, timeout: 30_000 })),
};

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

/** A redirect target as messages name it: redactUrl for http(s), only the scheme otherwise (a data: URL is all payload). */
function describeTarget(u: URL): string {
  return u.protocol === 'http:' || u.protocol === 'https:' ? redactUrl(u) : `a ${u.protocol} URL`;
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The failures of one fetch, worded and coded for its purpose. */
function failures(p: FetchPurpose) {
  return {
    forbidden: (host: string) =>
      permanentError(p.codes.forbidden, `${p.noun} URL host ${host} resolves to a private or local address; reelay does not ${p.refusedVerb ?? 'fetch from'} such addresses ${p.allowHint}`),
    badUrl: (message: string) => permanentError(p.codes.badUrl, message),
    refused: (message: string, status?: number) => permanentError(p.codes.refused, message, status),
    tooLarge: (maxBytes: number) => permanentError(p.codes.tooLarge, `${p.noun} is larger than ${maxBytes} bytes`),
    /** Trouble on the way: retryable, and nothing reached an upstream. */
    trouble: (message: string, status?: number, cause?: unknown) =>
      new UpstreamError({ code: p.codes.trouble, message, status, retryable: true, maybeCreated: false, cause }),
  };
}
type Failures = ReturnType<typeof failures>;

/** Refuse a URL before connecting: scheme, credentials, IP literals and metadata names. */
function checkTarget(u: URL, opts: SafeFetchOptions, trusted: boolean, fail: Failures, noun: string): void {
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw fail.badUrl(`${noun} URL scheme ${u.protocol} is not supported (http and https only)`);
  if (u.username || u.password) throw fail.badUrl(`${noun} URLs must not carry credentials`);
  if (trusted) return;
  // IP literals never go through DNS, so they are judged here; names are judged at lookup.
  const host = normalizeHost(u.hostname);
  if (forbiddenBeforeLookup(host, opts.allowHosts)) throw fail.forbidden(host);
}

/**
 * The socket's DNS lookup: resolves every address and refuses the connection unless
 * all of them are public (or allowed), so the address checked is the one connected to.
 */
function guardedLookup(allowHosts: readonly string[], fail: Failures): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family, hints: options.hints }, (err, addresses) => {
      if (err) return callback(err, '');
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      if (!hostAllowed(hostname, allowHosts)) {
        const refused = addresses.some((a) => !isPublicAddress(a.address) && !hostAllowed(a.address, allowHosts));
        if (refused) return callback(fail.forbidden(normalizeHost(hostname)), '');
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** Reads a 2xx body; throws `tooLarge()` past the cap. */
type BodyReader<T> = (res: http.IncomingMessage, maxBytes: number, tooLarge: () => UpstreamError) => Promise<T>;

type Hop<T> = { kind: 'redirect'; location: string } | { kind: 'body'; value: T; contentType: string | null };

/** A request with a body, sent once: its redirects are not followed (a 3xx fails like any non-2xx). */
interface Send {
  method: 'POST';
  body: Buffer;
  contentType: string;
}

interface HopContext {
  opts: SafeFetchOptions;
  send?: Send;
  signal: AbortSignal;
  abortError: (where: string) => unknown;
  fail: Failures;
  noun: string;
  trusted: boolean;
  sendHeaders: boolean;
  /** A connection of its own even for a trusted origin (the retry of a request a kept-alive socket dropped). */
  fresh?: boolean;
}

/** Thrown by `hop` when a kept-alive socket turned out closed before any answer: the GET is sent again on a new one. */
class StaleSocket extends Error {}

/** One request: a redirect target or the body as `read` takes it. */
function hop<T>(u: URL, ctx: HopContext, read: BodyReader<T>): Promise<Hop<T>> {
  const { opts, signal, fail, noun } = ctx;
  const where = redactUrl(u);
  return new Promise<Hop<T>>((resolve, reject) => {
    let settled = false;
    let body: http.IncomingMessage | undefined;
    const finish = (err: unknown, value?: Hop<T>) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    // While a body is read, destroying it makes the reader fail, so the caller
    // only hears of the abort once the reader (and any file it writes) has stopped.
    const onAbort = () => (body ? body.destroy(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' })) : finish(ctx.abortError(where)));
    const failed = (err: unknown) => {
      if (signal.aborted) return finish(ctx.abortError(where));
      const code = errorCode(err);
      // The server closed an idle kept-alive socket just as it was reused: nothing was answered.
      if (req.reusedSocket && !body && (code === 'ECONNRESET' || code === 'EPIPE')) return finish(new StaleSocket());
      finish(err instanceof UpstreamError ? err : fail.trouble(`${ctx.send ? `cannot send the ${noun} to` : `cannot fetch the ${noun} from`} ${where}${code ? ` (${code})` : ''}`, undefined, err));
    };

    const client = u.protocol === 'https:' ? https : http;
    const req = client.request(
      {
        protocol: u.protocol,
        hostname: u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname,
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        method: ctx.send?.method ?? 'GET',
        headers: {
          ...(ctx.sendHeaders ? opts.headers : {}),
          accept: opts.accept ?? DEFAULT_ACCEPT,
          'accept-encoding': 'identity',
          'user-agent': 'reelay',
          ...(ctx.send ? { 'content-type': ctx.send.contentType, 'content-length': String(ctx.send.body.length) } : {}),
        },
        // A trusted origin is the operator's own upstream: any address, as configured, and its
        // GETs share kept-alive connections. Any other hop gets a fresh connection, always
        // through the guarded lookup.
        ...(ctx.trusted ? { agent: ctx.send || ctx.fresh ? false : trustedAgents[u.protocol as 'http:' | 'https:'] } : { agent: false, lookup: guardedLookup(opts.allowHosts, fail) }),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (REDIRECT_STATUSES.has(status) && location && !ctx.send) return finish(undefined, { kind: 'redirect', location });
        if (status < 200 || status >= 300) {
          const message = `the ${noun} host answered HTTP ${status} for ${where}`;
          const transient = status === 408 || status === 429 || status >= 500;
          return finish(transient ? fail.trouble(message, status) : fail.refused(message, status));
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > opts.maxBytes) return finish(fail.tooLarge(opts.maxBytes));
        body = res;
        read(res, opts.maxBytes, () => fail.tooLarge(opts.maxBytes)).then(
          (value) => finish(undefined, { kind: 'body', value, contentType: res.headers['content-type'] ?? null }),
          failed,
        );
      },
    );
    req.on('error', failed);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    req.end(ctx.send?.body);
  });
}

/** The redirect loop shared by both variants: checks every hop, one deadline for all. */
async function guardedGet<T>(url: string, opts: SafeFetchOptions, read: BodyReader<T>, send?: Send): Promise<{ value: T; contentType: string | null; finalUrl: string }> {
  const purpose = opts.purpose ?? IMAGE_FETCH;
  const fail = failures(purpose);
  const noun = purpose.noun;
  let current: URL;
  try {
    current = new URL(url);
  } catch {
    throw fail.badUrl(`${noun} URL is not a valid URL`);
  }
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  const abortError = (where: string): unknown => {
    if (opts.signal?.aborted) return opts.signal.reason ?? new Error('aborted');
    const within = `within ${Math.round(opts.timeoutMs / 100) / 10} s`;
    return fail.trouble(send ? `${where} did not answer the ${noun} ${within}` : `the ${noun} from ${where} did not arrive ${within}`);
  };
  const trustedOrigins = new Set((opts.trustedOrigins ?? []).map(originOf).filter((o): o is string => o !== null));
  const firstOrigin = current.origin;
  let stayed = true; // still on the first URL's origin: headers may go along

  for (let redirects = 0; ; redirects++) {
    stayed &&= current.origin === firstOrigin;
    const trusted = trustedOrigins.has(current.origin);
    // A refused redirect names where it led (the caller names where it started): the
    // host and path only, since the target's query or credentials may be secrets.
    const redirected = (err: unknown) =>
      redirects > 0 && err instanceof UpstreamError ? permanentError(err.code, `the ${noun} host redirected to ${describeTarget(current)}; ${err.message}`, err.status) : err;
    try {
      checkTarget(current, opts, trusted, fail, noun); // every failure here is a refusal of the URL itself
    } catch (err) {
      throw redirected(err);
    }
    if (signal.aborted) throw abortError(redactUrl(current));
    const ctx: HopContext = { opts, send, signal, abortError, fail, noun, trusted, sendHeaders: stayed };
    const answer = await hop(current, ctx, read).catch((err: unknown) => (err instanceof StaleSocket ? hop(current, { ...ctx, fresh: true }, read) : Promise.reject(err))).catch((err: unknown) => {
      throw err instanceof UpstreamError && err.code === purpose.codes.forbidden ? redirected(err) : err; // refused at DNS lookup
    });
    if (answer.kind === 'body') return { value: answer.value, contentType: answer.contentType, finalUrl: current.href };
    if (redirects >= MAX_REDIRECTS) throw fail.refused(`too many redirects (more than ${MAX_REDIRECTS}) fetching the ${noun} from ${redactUrl(url)}`);
    try {
      current = new URL(answer.location, current);
    } catch {
      throw fail.refused(`the ${noun} host redirected ${redactUrl(current)} to an invalid URL`);
    }
  }
}

function originOf(url: string): string | null {
  try {
    const o = new URL(url).origin;
    return o === 'null' ? null : o;
  } catch {
    return null;
  }
}

const readIntoMemory: BodyReader<Buffer> = async (res, maxBytes, tooLarge) => {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  if (!res.complete) throw Object.assign(new Error('connection closed before the end of the body'), { code: 'ECONNRESET' });
  return Buffer.concat(chunks, total);
};

/** Counts bytes on their way through and fails past the cap. */
function byteCap(maxBytes: number, tooLarge: () => Error): Transform & { seen: number } {
  const cap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      cap.seen += chunk.length;
      if (cap.seen > maxBytes) cb(tooLarge());
      else cb(null, chunk);
    },
  }) as Transform & { seen: number };
  cap.seen = 0;
  return cap;
}

function writeToFile(dest: string): BodyReader<number> {
  return async (res, maxBytes, tooLarge) => {
    const cap = byteCap(maxBytes, tooLarge);
    await pipeline(res, cap, fs.createWriteStream(dest));
    if (!res.complete) throw Object.assign(new Error('connection closed before the end of the body'), { code: 'ECONNRESET' });
    return cap.seen;
  };
}

/**
 * GET a URL from outside into memory, with SSRF protection, a byte cap and a
 * deadline. Throws UpstreamError with the purpose's codes (input images by
 * default: IMAGE_URL_FORBIDDEN for a private/local target, INVALID_IMAGE for a
 * bad URL or scheme, too large, 4xx, too many redirects, all permanent;
 * IMAGE_FETCH_FAILED, retryable, for network trouble, timeout, 5xx, 408, 429).
 * A caller abort rethrows `signal.reason`.
 */
export async function safeFetchBytes(url: string, opts: SafeFetchOptions): Promise<SafeFetchResult> {
  const got = await guardedGet(url, opts, readIntoMemory);
  return { bytes: got.value, contentType: got.contentType, finalUrl: got.finalUrl };
}

/**
 * The streaming variant: the same guarded connection and redirect handling, the
 * body streamed into `dest` (never held in memory). On failure `dest` may hold a
 * partial body: the caller removes it.
 */
export async function safeFetchToFile(url: string, dest: string, opts: SafeFetchOptions): Promise<SafeFileResult> {
  const got = await guardedGet(url, opts, writeToFile(dest));
  return { sizeBytes: got.value, contentType: got.contentType, finalUrl: got.finalUrl };
}

/** The answer to a request with a body: a 2xx status (anything else throws). */
export interface SafePostResult {
  status: number;
}

/**
 * POST `body` to a URL from outside (webhook receivers) with the same SSRF
 * checks as the GETs: scheme, IP literals, and every address DNS returns, at
 * connect time. Redirects are not followed: a 3xx fails like a 4xx. The
 * answer's body is not read. Throws UpstreamError with the purpose's codes
 * (`forbidden` for a private target, `refused` for a 3xx/4xx, `trouble` for
 * network errors, timeouts, 5xx); `status` is set when the receiver answered.
 */
export async function safePost(url: string, body: Buffer, contentType: string, opts: Omit<SafeFetchOptions, 'maxBytes'>): Promise<SafePostResult> {
  // The status is all that counts; the connection closes without reading the body.
  const statusOf: BodyReader<number> = async (res) => res.statusCode ?? 0;
  const got = await guardedGet(url, { ...opts, maxBytes: Number.MAX_SAFE_INTEGER, accept: opts.accept ?? '*/*' }, statusOf, { method: 'POST', body, contentType });
  return { status: got.value };
}
