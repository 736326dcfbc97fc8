// A lean GET over node:http(s) with kept-alive connections, for the requests
// reelay sends most: status polls, thousands a minute with many jobs in
// flight. fetch (undici) costs about twice the CPU per request (measured in
// bench/jobs.ts), which is most of what a polling runner spends. Same
// behaviour as the fetch it replaces where callers can tell: redirects are
// followed (at most 20; the Authorization header is dropped when one leaves
// the origin), a compressed answer is decoded, the deadline covers the whole
// exchange and fails with a TimeoutError, a connection that is not made within
// 10 s fails with UND_ERR_CONNECT_TIMEOUT (as undici's does), and the caller's
// abort rejects with its reason. A kept-alive socket the server closed just as
// it was reused is retried once on a new one (a GET may be sent again).
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';

export interface GetAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface GetOptions {
  headers?: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 20;
const CONNECT_TIMEOUT_MS = 10_000;
// Up to 4096 idle sockets are kept (node's default is 256): thousands of jobs polled
// on one host can have hundreds of polls in flight after a busy moment, and every
// socket beyond the limit would be closed and connected again at the next burst.
// Idle sockets go after 30 s (or when the server closes them).
const agentOptions = { keepAlive: true, maxFreeSockets: 4096, timeout: 30_000 };

/**
 * Node's agent keeps an idle socket one second less than the server announces
 * (`Keep-Alive: timeout=<s>`), so it never reuses a socket of a server that
 * announces one second: each poll would pay a connect and a close, most of its
 * CPU. Such a socket is kept half a second here. One the server closes just as
 * it is reused costs one retry of the GET (see `once`), nothing more.
 */
const ONE_SECOND_HINT_KEEP_MS = 500;
const ONE_SECOND_HINT = /^timeout=1(?!\d)/;

const hintOf = (res: http.IncomingMessage | undefined) => res?.headers['keep-alive'];

export function keepOneSecondHints<A extends http.Agent>(agent: A): A {
  // Node's returns whether to keep the socket (its typings say void).
  const nodeKeep = agent.keepSocketAlive.bind(agent) as unknown as (socket: Socket) => boolean;
  (agent as unknown as { keepSocketAlive: (socket: Socket) => boolean }).keepSocketAlive = (socket) => {
    const hint = hintOf((socket as Socket & { _httpMessage?: { res?: http.IncomingMessage } })._httpMessage?.res);
    if (typeof hint !== 'string' || !ONE_SECOND_HINT.test(hint)) return nodeKeep(socket);
    socket.setKeepAlive(true, 1000);
    socket.unref();
    if (socket.timeout !== ONE_SECOND_HINT_KEEP_MS) socket.setTimeout(ONE_SECOND_HINT_KEEP_MS);
    return true;
  };
  return agent;
}

const agentsOf = (scheduling: 'lifo' | 'fifo') => ({
  'http:': keepOneSecondHints(new http.Agent({ ...agentOptions, scheduling })),
  'https:': keepOneSecondHints(new https.Agent({ ...agentOptions, scheduling })),
});

/**
 * Most recently used sockets first, in general: the least likely to have been
 * closed by a server (that may not say when it closes idle ones) meanwhile.
 * A host that announced a one-second keep-alive has its sockets taken oldest
 * first instead, all of them idle under half a second (they go after that):
 * polls to it then keep every socket of its pool in use, so a burst of polls
 * (after a busy moment of the event loop) finds the sockets the last burst
 * opened still there, instead of connecting again (most recently used first
 * leaves the sockets beyond the few a steady trickle needs idle until they go).
 */
const lifo = agentsOf('lifo');
const fifo = agentsOf('fifo');
/** Hosts (host:port) whose last answer announced `Keep-Alive: timeout=1`. */
const oneSecondHosts = new Set<string>();
const MAX_ONE_SECOND_HOSTS = 1000;

const named = (name: string, message: string, code?: string) => Object.assign(new Error(message), { name, ...(code ? { code } : {}) });

export async function httpGet(url: string, opts: GetOptions): Promise<GetAnswer> {
  const deadline = Date.now() + opts.timeoutMs;
  let target = new URL(url);
  let headers = { ...opts.headers };
  for (let hop = 0; ; hop++) {
    let answer: GetAnswer;
    try {
      answer = await once(target, headers, deadline, opts.signal);
    } catch (err) {
      if (!(err as { staleSocket?: boolean }).staleSocket) throw err;
      answer = await once(target, headers, deadline, opts.signal, true);
    }
    const location = answer.headers.location;
    if (![301, 302, 303, 307, 308].includes(answer.status) || !location) return answer;
    if (hop >= MAX_REDIRECTS) throw named('TypeError', 'redirect count exceeded');
    const next = new URL(location, target);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw named('TypeError', `redirect to ${next.protocol} refused`);
    if (next.origin !== target.origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
    target = next;
  }
}

function once(url: URL, headers: Record<string, string>, deadline: number, signal: AbortSignal | undefined, fresh = false): Promise<GetAnswer> {
  return new Promise<GetAnswer>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const lib = url.protocol === 'https:' ? https : http;
    const agent = (oneSecondHosts.has(url.host) ? fifo : lifo)[url.protocol as 'http:' | 'https:'];
    if (!agent) return reject(named('TypeError', `unsupported protocol ${url.protocol}`));
    let settled = false;
    let gotResponse = false;
    let reused = false;
    const req = lib.request(url, { method: 'GET', headers, agent: fresh ? false : agent });
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const fail = (err: Error) => {
      finish(() => reject(err));
      req.destroy();
    };
    const onAbort = () => fail(signal!.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => fail(named('TimeoutError', 'The operation was aborted due to timeout')), Math.max(0, deadline - Date.now()));
    let connectTimer: NodeJS.Timeout | undefined;
    req.on('socket', (socket: Socket) => {
      reused = (req as http.ClientRequest & { reusedSocket?: boolean }).reusedSocket === true;
      if (socket.connecting) {
        connectTimer = setTimeout(() => fail(named('ConnectTimeoutError', 'Connect Timeout Error', 'UND_ERR_CONNECT_TIMEOUT')), CONNECT_TIMEOUT_MS);
        socket.once('connect', () => clearTimeout(connectTimer));
      }
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The server closed an idle kept-alive socket just as it was reused: nothing was answered.
      if (reused && !gotResponse && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) Object.assign(err, { staleSocket: true });
      fail(err);
    });
    req.on('response', (res) => {
      gotResponse = true;
      const hint = hintOf(res);
      if (typeof hint !== 'string' || !ONE_SECOND_HINT.test(hint)) oneSecondHosts.delete(url.host);
      else if (oneSecondHosts.size < MAX_ONE_SECOND_HOSTS) oneSecondHosts.add(url.host);
      const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
      const decoder = encoding === 'gzip' || encoding === 'x-gzip' ? zlib.createGunzip() : encoding === 'deflate' ? zlib.createInflate() : encoding === 'br' ? zlib.createBrotliDecompress() : null;
      const chunks: Buffer[] = [];
      const done = (err?: Error | null) => (err ? fail(err) : finish(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') })));
      // A plain body (every poll, in practice) is read without a pipeline (one costs an
      // AbortController, an aborted signal's DOMException and an async iterator per poll)
      // and without stream.finished (a dozen listeners and closures): it ends whole ('end'),
      // fails ('error': a reset mid-body is one), or closes early.
      if (!decoder) {
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done());
        res.on('error', done);
        res.on('close', () => {
          if (!settled) done(named('Error', 'the connection closed before the end of the body', 'ECONNRESET'));
        });
        return;
      }
      const sink = async (source: AsyncIterable<Buffer>) => {
        for await (const c of source) chunks.push(c);
      };
      pipeline(res, decoder, sink).then(() => done(), done);
    });
    req.end();
  });
}
