// One port for everything: GraphQL over HTTP (and SSE) with GraphiQL via yoga,
// GraphQL over WebSocket (graphql-transport-ws) on the same path, /health,
// /files/, /metrics and the web console (`/` and `/assets/`). WebSocket
// operations run through yoga's plugins like HTTP ones.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { GraphQLError } from 'graphql';
import type { ConnectionInitMessage } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { createGraphQLError, createYoga } from 'graphql-yoga';
import { useRequestBodyLimit } from './body-limit.js';
import { accessLogger, type Logger } from '../logger.js';
import { WebSocketServer } from 'ws';
import { schema } from '../schema/index.js';
import { createLoaders, type Context } from '../schema/context.js';
import { healthReport } from '../schema/queries.js';
import type { Services } from '../services.js';
import { corsFor, CSRF_HEADERS, csrfPrevention } from './cross-site.js';
import { serveFile } from './files.js';
import { filesExpired } from '../db/expire-result-files.js';
import { fileLinkRefusal } from './file-signatures.js';
import { posterRefusal } from './posters.js';
import { PosterStore } from '../storage/posters.js';
import { posterRenders } from '../metrics.js';
import { isConsolePath, serveConsole } from './console.js';
import { GRAPHIQL_TABS, renderGraphiQLOffline } from './graphiql.js';
import { useEndSubscriptionsWithKey } from './end-subscriptions.js';
import { useSharedSubscriptionResults } from './shared-results.js';
import { refuseRequest, refuseUpgrade } from './refuse.js';
import { hostProblem, websocketOriginProblem } from './request-policy.js';
import { compileProxyTrust, type ProxyTrust } from '../net/trust-proxy.js';
import { serveMetrics } from './metrics.js';
import { loggedErrors, unexpectedOriginal, useOperationMetrics } from './operation-metrics.js';
import { requestInfo, requestOrigin } from './request-info.js';

/** graphql-ws's close code for a connection whose key is missing or does not work (any more). */
const FORBIDDEN = 4403;

/** Operations one WebSocket connection may run at once; the next `subscribe` gets an `error` message. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 100;

interface ServerContext {
  req?: IncomingMessage;
  request?: Request;
  connectionParams?: ConnectionInitMessage['payload'];
}

/** The key from connectionParams: `authorization`, or inside `headers` as GraphiQL sends it. */
function headerOf(params: ConnectionInitMessage['payload'] | undefined): string | undefined {
  const headers = params?.headers && typeof params.headers === 'object' ? (params.headers as Record<string, unknown>) : {};
  const v = params?.authorization ?? params?.Authorization ?? headers.authorization ?? headers.Authorization;
  return typeof v === 'string' ? v : undefined;
}

function originOf(services: Services, trust: ProxyTrust, req?: IncomingMessage, request?: Request): string {
  if (services.config.publicUrl) return services.config.publicUrl;
  // Behind a trusted proxy: the scheme and host the client used.
  const info = req && requestInfo(req, trust);
  if (info && (info.forwardedProto || info.forwardedHost)) return requestOrigin(req, info, `${services.config.host}:${services.config.port}`);
  if (request) return new URL(request.url).origin;
  const host = req?.headers.host ?? `${services.config.host}:${services.config.port}`;
  return `http://${host}`;
}

/** Segments of characters a URL keeps as they are, none starting with a dot. */
const SIMPLE_PATH = /^(?:\/[\w~!$&'()*+,;=:@-][\w.~!$&'()*+,;=:@-]*)*\/?$/;

/** The path of a request target (no query), as `new URL(url, base).pathname` gives it; without building a URL in the usual case. */
export function pathOf(url: string | undefined): string {
  if (url && SIMPLE_PATH.test(url)) return url;
  return new URL(url ?? '/', 'http://x').pathname;
}

/**
 * On every answer: no page may frame reelay (GraphiQL runs what its URL pre-fills,
 * so a framing page could trick a click into a mutation), browsers must not
 * second-guess content types (stored media under /files/), and caches keep
 * CORS answers apart per Origin.
 */
function setSafetyHeaders(res: ServerResponse): void {
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('content-security-policy', "frame-ancestors 'none'");
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('vary', 'Origin');
}

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * yoga's logger over ours. yoga logs three debug lines for every request: at a
 * level that is off, its method is a no-op that builds nothing (the level is
 * read when the server is made, as LOG_LEVEL is).
 */
export function yogaLogging(log: Logger): Record<LogLevel, (...args: unknown[]) => void> {
  const at = (level: LogLevel) => (log.isLevelEnabled(level) ? (...a: unknown[]) => log[level]({ yoga: a }, 'yoga') : () => {});
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** An access line's fields, all of them: the access logger does not redact (logger.ts), so nothing secret may be added here. */
export interface AccessEntry {
  reqId: string;
  ip: string;
  method: string | undefined;
  path: string;
  status: number;
  ms: number;
}

export function accessEntry(reqId: string, ip: string, method: string | undefined, path: string, status: number, ms: number): AccessEntry {
  return { reqId, ip, method, path, status, ms: Math.round(ms * 10) / 10 };
}

export interface HttpServer {
  server: Server;
  listen(): Promise<number>;
  /** Stop accepting, close subscriptions (1001), let in-flight requests finish. */
  close(timeoutMs?: number): Promise<void>;
}

export function createHttpServer(services: Services): HttpServer {
  const { auth, log, config } = services;
  const trust = compileProxyTrust(config.trustProxy);
  const metricsAccess = { token: config.metricsToken, trust };
  const unauthenticated = () =>
    new GraphQLError('missing or invalid API key: send "Authorization: Bearer <key>"', { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });

  // Errors we raise on purpose carry a code, and graphql-js's own (a bad
  // variable, an invalid query) keep their 400: both go out as they are.
  // Anything else is logged with the request id (useOperationMetrics did so
  // for errors of execution) and masked. Subscriptions' results are masked by
  // useSharedSubscriptionResults with the same function.
  const maskError = (error: unknown, message: string): Error => {
    const original = unexpectedOriginal(error);
    if (original === undefined) return error as Error;
    let requestId = typeof original === 'object' && original !== null ? loggedErrors.get(original) : undefined;
    if (!requestId) {
      requestId = randomUUID();
      log.error({ err: original, reqId: requestId }, 'unexpected error');
    }
    return createGraphQLError(message, { extensions: { code: 'INTERNAL_SERVER_ERROR', requestId } });
  };

  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/yoga-health',
    landingPage: false,
    logging: yogaLogging(log),
    graphiql: { title: 'reelay', defaultTabs: GRAPHIQL_TABS, subscriptionsProtocol: 'WS', additionalHeaders: { [CSRF_HEADERS[0]!]: 'graphiql' } },
    renderGraphiQL: renderGraphiQLOffline,
    cors: corsFor(config),
    plugins: [useOperationMetrics(log), csrfPrevention(), EnvelopArmorPlugin({ maxDepth: { n: 10 }, costLimit: { maxCost: 20_000 } }), useEndSubscriptionsWithKey(auth), useSharedSubscriptionResults({ maskError }), useRequestBodyLimit()],
    maxRequestBodySize: false, // useRequestBodyLimit: the same limit without a stream per request
    maskedErrors: { maskError },
    context: async ({ request, req, connectionParams }) => {
      // HTTP: the key cache; a WebSocket operation starts a live session: looked up afresh.
      const principal = request ? await auth.identify(request.headers.get('authorization')) : await auth.identify(headerOf(connectionParams), { fresh: true });
      if (!principal) throw unauthenticated();
      let origin: string | undefined;
      const requestId = req ? requestInfo(req, trust).id : randomUUID();
      return { owner: principal.owner, principal, requestId, origin: () => (origin ??= originOf(services, trust, req, request)), services, loaders: createLoaders(services) };
    },
  });

  /** While no keys are required, only loopback Host names are served: a DNS-rebinding page cannot reach the API. */
  const hostRefusal = (host: string | undefined) => (auth.isRequired ? null : hostProblem(host));

  const posters = new PosterStore({ filesDir: config.filesDir, maxPixels: config.maxImagePixels, onRender: (outcome) => posterRenders.inc({ outcome }) });
  const access = accessLogger(log);
  const server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const pathname = pathOf(req.url);
    const info = requestInfo(req, trust);
    res.setHeader('x-request-id', info.id);
    if (access.isLevelEnabled(pathname === '/health' ? 'debug' : 'info')) {
      res.once('finish', () => {
        const entry = accessEntry(info.id, info.client, req.method, pathname, res.statusCode, performance.now() - started);
        if (pathname === '/health') access.debug(entry, 'request');
        else access.info(entry, 'request');
      });
    }
    setSafetyHeaders(res);
    try {
      const refused = hostRefusal(req.headers.host);
      if (refused) return refuseRequest(res, refused);
      if (pathname === '/health') {
        const report = await healthReport({ services });
        const body = { status: report.status, db: report.db, providers: report.providers };
        res.writeHead(report.db ? 200 : 503, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(body));
      }
      if (pathname === '/metrics') return await serveMetrics(req, res, metricsAccess, services.database.db);
      if (pathname.startsWith('/files/')) {
        // Whether retention removed this task's files: asked at most once per request (the poster's
        // 404 → 410 below and serveFile's miss are the same question).
        let expiredLookup: Promise<boolean> | undefined;
        const expired = (id: string) => (expiredLookup ??= filesExpired(services.database.db, id));
        const refused = fileLinkRefusal(config.fileUrls, pathname, req.url) ?? (await posterRefusal(posters, req, res, pathname));
        // A poster of a video that file retention removed answers 410 like the video itself.
        const gone = refused?.code === 'POSTER_UNAVAILABLE' && (await expired(pathname.split('/')[2]!));
        if (refused && !gone) return refuseRequest(res, refused);
        return await serveFile(req, res, services.config.filesDir, pathname, expired);
      }
      if (isConsolePath(pathname)) return await serveConsole(req, res, pathname, { publicUrl: config.publicUrl });
      await yoga(req, res);
    } catch (err) {
      log.error({ err, reqId: info.id }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'Internal server error' }] }));
    }
  }

  // Upgrades are handed over by hand (not through `server:`): the Host and
  // Origin rules run first, and the HTTP server's own errors (EADDRINUSE) are
  // not reported again as WebSocket ones.
  const wss = new WebSocketServer({ noServer: true });
  // The 101 answer carries the connection's request id like any other answer.
  wss.on('headers', (headers: string[], req: IncomingMessage) => void headers.push(`x-request-id: ${requestInfo(req, trust).id}`));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void upgrade(req, socket, head));
  async function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const info = requestInfo(req, trust);
    socket.on('error', (err) => log.debug({ err, reqId: info.id }, 'websocket upgrade socket error'));
    try {
      if (new URL(req.url ?? '/', 'http://x').pathname !== yoga.graphqlEndpoint) {
        return refuseUpgrade(socket, { status: 404, code: 'NOT_FOUND', message: `WebSocket endpoint is ${yoga.graphqlEndpoint}` });
      }
      const refused = hostRefusal(req.headers.host) ?? websocketOriginProblem(config, req.headers.origin, info.forwardedHost ?? req.headers.host);
      if (refused) return refuseUpgrade(socket, refused);
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } catch (err) {
      log.error({ err, reqId: info.id }, 'websocket upgrade failed');
      refuseUpgrade(socket, { status: 500, code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' });
    }
  }
  const wsServer = useServer(
    {
      execute: (args) => (args.rootValue as { execute: (a: unknown) => unknown }).execute(args) as never,
      subscribe: (args) => (args.rootValue as { subscribe: (a: unknown) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        try {
          const principal = await auth.identify(headerOf(ctx.connectionParams), { fresh: true });
          if (!principal) return false;
          // The connection ends (4403) when its key stops working: anonymous
          // ones once keys are required, a stored key's when it is revoked.
          const socket = ctx.extra.socket;
          const untrack = auth.track(principal, (reason) => socket.close(FORBIDDEN, reason));
          if (!untrack) return false;
          // Gone while its key was checked: nothing to watch.
          if (socket.readyState !== socket.OPEN) {
            untrack();
            return false;
          }
          socket.once('close', untrack);
          return true;
        } catch (err) {
          log.error({ err, reqId: requestInfo(ctx.extra.request, trust).id }, 'websocket authentication failed');
          return false;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        // graphql-ws has already reserved this id in ctx.subscriptions: it counts too.
        if (Object.keys(ctx.subscriptions).length > MAX_SUBSCRIPTIONS_PER_CONNECTION) {
          const message = `at most ${MAX_SUBSCRIPTIONS_PER_CONNECTION} operations may run at once on one WebSocket connection; complete one first`;
          return [new GraphQLError(message, { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } })];
        }
        const { schema: s, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        let contextValue: Context;
        try {
          contextValue = await contextFactory();
        } catch (err) {
          // The connection's key stopped working since it connected: the
          // connection is refused as at connect time (4403), not failed (4500).
          if (err instanceof GraphQLError && err.extensions.code === 'UNAUTHENTICATED') {
            ctx.extra.socket.close(FORBIDDEN, 'Forbidden: missing or invalid API key');
            return [err];
          }
          throw err;
        }
        let document: ReturnType<typeof parse>;
        try {
          document = parse(params.query);
        } catch (err) {
          // A syntax error is an `error` message for this id, not a closed connection.
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        const errors = validate(s, document);
        if (errors.length > 0) return errors;
        return {
          schema: s,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
      },
    },
    wss,
  );

  return {
    server,
    async listen() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(services.config.port, services.config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      return (server.address() as AddressInfo).port;
    },
    async close(timeoutMs = 10_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      await wsServer.dispose();
      const timer = setTimeout(() => {
        posters.close(); // a poster still being made would hold its request open
        server.closeAllConnections();
      }, timeoutMs);
      await closed;
      clearTimeout(timer);
      posters.close();
    },
  };
}
