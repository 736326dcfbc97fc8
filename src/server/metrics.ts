// GET /metrics: the Prometheus text exposition. Open to a scraper on this
// machine (the socket's peer is a loopback address, the Host a loopback name,
// and the request did not come through a trusted proxy) or to one sending
// REELAY_METRICS_TOKEN as a Bearer token; otherwise 401 (no credentials) or
// 403 (wrong ones), with the same body whatever is configured. API processes
// add the database gauges, read at scrape time from the task counters.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import type { Db } from '../db/client.js';
import { countActiveTasks } from '../db/count-active-tasks.js';
import { METRICS_CONTENT_TYPE, processMetrics } from '../metrics.js';
import { isLoopbackAddress, type ProxyTrust } from '../net/trust-proxy.js';
import type { Logger } from '../logger.js';
import { refuseRequest } from './refuse.js';
import { isLoopbackHostHeader } from './request-policy.js';

export interface MetricsAccess {
  token?: string;
  trust: ProxyTrust;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time: both sides hashed to the same length first. */
function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** null when the request may read the metrics; else the status to refuse it with. */
export function metricsRefusal(req: IncomingMessage, access: MetricsAccess): 401 | 403 | null {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    return access.token && m && tokenMatches(m[1]!, access.token) ? null : 403;
  }
  const peer = req.socket.remoteAddress;
  const proxied = access.trust(peer ?? '') && (req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined);
  if (isLoopbackAddress(peer) && !proxied && isLoopbackHostHeader(req.headers.host)) return null;
  return 401;
}

/** Queue depth and in-flight tasks per provider, made afresh for each scrape. */
async function databaseGauges(db: Db): Promise<string> {
  const counts = await countActiveTasks(db);
  if (!counts) return '';
  const registry = new Registry();
  const depth = new Gauge({ name: 'reelay_queue_depth', help: 'Tasks QUEUED, per provider (every process sees the same value: take max, not sum).', labelNames: ['provider'] as const, registers: [registry] });
  const inFlight = new Gauge({ name: 'reelay_tasks_in_flight', help: 'Tasks PROCESSING, per provider (every process sees the same value: take max, not sum).', labelNames: ['provider'] as const, registers: [registry] });
  for (const c of counts) {
    depth.set({ provider: c.providerId }, c.queued);
    inFlight.set({ provider: c.providerId }, c.processing);
  }
  return registry.metrics();
}

/** Answer GET /metrics; `db` adds the database gauges (API processes). */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, access: MetricsAccess, db?: Db): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return refuseRequest(res, { status: 405, code: 'METHOD_NOT_ALLOWED', message: 'GET /metrics' });
  }
  const refused = metricsRefusal(req, access);
  if (refused === 401) res.setHeader('www-authenticate', 'Bearer realm="metrics"');
  if (refused) return refuseRequest(res, { status: refused, code: 'FORBIDDEN', message: 'metrics are served to loopback scrapers and to REELAY_METRICS_TOKEN' });
  const own = await processMetrics();
  const gauges = db ? await databaseGauges(db) : '';
  res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : own + gauges);
}

export interface MetricsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** The metrics listener of a `--role runner` process (REELAY_METRICS_PORT): /metrics only. */
export async function startMetricsServer(host: string, port: number, access: MetricsAccess, log: Logger): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    res.setHeader('x-content-type-options', 'nosniff');
    if ((req.url ?? '/').split('?')[0] !== '/metrics') return refuseRequest(res, { status: 404, code: 'NOT_FOUND', message: 'this port serves GET /metrics only' });
    serveMetrics(req, res, access).catch((err) => {
      log.error({ err }, 'metrics scrape failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
