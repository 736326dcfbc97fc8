// Shared plumbing for the upstream emulators: a real HTTP server on 127.0.0.1
// with a tiny router and switchable faults (slow answers, error statuses,
// connection resets, malformed JSON), so tests can drive every failure path.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { type: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { type: 'delay'; ms: number }
  | { type: 'reset' }
  | { type: 'malformed' }
  /** Read the request, then never answer (until the client gives up). */
  | { type: 'hang' }
  /** Handle the request (e.g. create the task), then cut the connection instead of answering. */
  | { type: 'drop' };

export interface FaultRule {
  /** "METHOD /path/prefix" or "/path/prefix"; matched against the request. */
  match: string;
  fault: Fault;
  /** How many requests it applies to; Infinity when omitted. */
  times?: number;
}

export interface EmulatorRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** Raw body bytes. */
  raw: Buffer;
  /** Parsed JSON body, or undefined when not JSON / unparsable. */
  json: unknown;
}

export interface EmulatorResponse {
  status?: number;
  json?: unknown;
  body?: Buffer | string;
  headers?: Record<string, string>;
}

export type Handler = (req: EmulatorRequest) => EmulatorResponse | Promise<EmulatorResponse>;

interface Route { method: string; pattern: RegExp; keys: string[]; handler: Handler }

export class FaultSwitch {
  private rules: FaultRule[] = [];
  add(rule: FaultRule): void {
    this.rules.push({ ...rule, times: rule.times ?? Infinity });
  }
  clear(): void {
    this.rules = [];
  }
  /** The fault for this request, consuming one use of it. */
  take(method: string, path: string): Fault | undefined {
    for (const rule of this.rules) {
      const [m, p] = rule.match.includes(' ') ? rule.match.split(' ', 2) : [undefined, rule.match];
      if (m && m.toUpperCase() !== method) continue;
      if (!path.startsWith(p!)) continue;
      if ((rule.times ?? 0) <= 0) continue;
      rule.times = (rule.times ?? Infinity) - 1;
      return rule.fault;
    }
    return undefined;
  }
}

export class EmulatorServer {
  readonly faults = new FaultSwitch();
  /** Every request seen, for assertions ("was the task submitted twice?"). */
  readonly requests: Array<{ method: string; path: string; headers: http.IncomingHttpHeaders; json: unknown }> = [];
  private routes: Route[] = [];
  private server?: http.Server;
  url = '';

  route(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      '^' + path.replace(/\/:(\w+)(\*)?/g, (_m, key: string, star?: string) => {
        keys.push(key);
        return star ? '/(.+)' : '/([^/]+)';
      }) + '$',
    );
    this.routes.push({ method: method.toUpperCase(), pattern, keys, handler });
    return this;
  }

  /** The listening node:http server (benchmarks count its connections). */
  get httpServer(): http.Server | undefined {
    return this.server;
  }

  async listen(port = 0): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    const addr = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${addr.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const u = new URL(req.url ?? '/', 'http://x');
    const method = (req.method ?? 'GET').toUpperCase();
    let json: unknown;
    if (raw.length && String(req.headers['content-type'] ?? '').includes('json')) {
      try {
        json = JSON.parse(raw.toString('utf8'));
      } catch {
        json = undefined;
      }
    }
    this.requests.push({ method, path: u.pathname, headers: req.headers, json });

    const fault = this.faults.take(method, u.pathname);
    if (fault) {
      if (fault.type === 'reset') return void req.socket.destroy();
      if (fault.type === 'hang') return;
      if (fault.type === 'status') return send(res, { status: fault.status, json: fault.body ?? { detail: `injected ${fault.status}` }, headers: fault.headers });
      if (fault.type === 'malformed') return send(res, { status: 200, body: '{"oops": ', headers: { 'content-type': 'application/json' } });
      if (fault.type === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    }

    for (const route of this.routes) {
      if (route.method !== method) continue;
      const m = route.pattern.exec(u.pathname);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1]!)));
      try {
        const out = await route.handler({ method, path: u.pathname, params, query: u.searchParams, headers: req.headers, raw, json });
        if (fault?.type === 'drop') return void req.socket.destroy();
        return send(res, out);
      } catch (err) {
        return send(res, { status: 500, json: { detail: `emulator error: ${(err as Error).message}` } });
      }
    }
    send(res, { status: 404, json: { detail: 'Not Found' } });
  }
}

function send(res: http.ServerResponse, out: EmulatorResponse): void {
  if (res.destroyed) return;
  const headers: Record<string, string> = { ...out.headers };
  let body: Buffer | string = '';
  if (out.json !== undefined) {
    body = JSON.stringify(out.json);
    headers['content-type'] ??= 'application/json';
  } else if (out.body !== undefined) body = out.body;
  res.writeHead(out.status ?? 200, headers);
  res.end(body);
}

// Real media (a playable MP4 per seed, a decodable PNG) live in media.ts.
export { fakeMp4, TINY_PNG } from './media.js';

/** A task whose status follows the clock: pending → processing → completed (or failed), once final stays so. */
export interface TimedTask {
  createdAt: number;
  final: 'completed' | 'failed' | null;
  never: boolean;
  failMessage: string | null;
}

export function timedStatus(task: TimedTask, t: { processingAfterMs: number; completeAfterMs: number; neverFinish: boolean }): 'pending' | 'processing' | 'completed' | 'failed' {
  if (task.final) return task.final;
  const age = Date.now() - task.createdAt;
  if (age < t.processingAfterMs) return 'pending';
  if (age < t.completeAfterMs || task.never || t.neverFinish) return 'processing';
  task.final = task.failMessage !== null ? 'failed' : 'completed';
  return task.final;
}
