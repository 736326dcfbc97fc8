// The lean GET used for status polls (src/net/http-get.ts): kept-alive sockets
// are reused even when the server announces a one-second keep-alive (node's
// agent would connect anew for every poll), oldest first for such a server,
// and a body is read whole, decoded, or failed when the connection ends early.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { httpGet } from '../../src/net/http-get.js';

interface TestServer {
  url: string;
  server: http.Server;
  connections: Socket[];
  close(): Promise<void>;
}

async function serve(handler: http.RequestListener, keepAliveTimeout = 1000): Promise<TestServer> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = keepAliveTimeout;
  const connections: Socket[] = [];
  server.on('connection', (s) => connections.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    connections,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(handler: http.RequestListener, keepAliveTimeout?: number): Promise<TestServer> {
  const s = await serve(handler, keepAliveTimeout);
  servers.push(s);
  return s;
}

const json = (body: unknown): http.RequestListener => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('httpGet', () => {
  it('reuses the socket of a server announcing a one-second keep-alive', async () => {
    const s = await start(json({ ok: true }), 1000);
    // The first answer tells the hint (its socket goes to the other pool: one connection more).
    await httpGet(`${s.url}/status/first`, { timeoutMs: 5000 });
    const before = s.connections.length;
    for (let i = 0; i < 5; i++) {
      const a = await httpGet(`${s.url}/status/${i}`, { timeoutMs: 5000 });
      expect(a.headers['keep-alive']).toBe('timeout=1');
      expect(JSON.parse(a.body)).toEqual({ ok: true });
    }
    expect(s.connections).toHaveLength(before + 1);
  });

  it('takes the sockets of such a server oldest first, so every socket a burst opened stays in use', async () => {
    const used: Socket[] = [];
    let closed = 0;
    const s = await start((req, res) => {
      if (req.url?.startsWith('/seq/')) used.push(req.socket);
      json({ ok: true })(req, res);
    }, 1000);
    s.server.on('connection', (c: Socket) => c.on('close', () => closed++));
    await httpGet(`${s.url}/first`, { timeoutMs: 5000 });
    // The client lets such a socket go after half a second idle: an attempt during which
    // one went (a stalled machine) proves nothing either way and is made again.
    for (let attempt = 1; ; attempt++) {
      used.length = 0;
      const closedBefore = closed;
      await Promise.all(Array.from({ length: 4 }, (_, i) => httpGet(`${s.url}/burst/${i}`, { timeoutMs: 5000 })));
      for (let i = 0; i < 4; i++) await httpGet(`${s.url}/seq/${i}`, { timeoutMs: 5000 });
      if (closed > closedBefore && attempt < 5) continue;
      // Most recently used first would have sent all four on one socket.
      expect(new Set(used).size).toBe(4);
      break;
    }
  });

  it('lets such a socket go before the server would close it, and connects anew', async () => {
    const s = await start(json({ ok: true }), 1000);
    await httpGet(`${s.url}/a`, { timeoutMs: 5000 });
    // The client drops the idle socket (after half a second), well before the server's second.
    await new Promise<void>((r) => (s.connections[0]!.destroyed ? r() : s.connections[0]!.once('close', () => r())));
    const a = await httpGet(`${s.url}/b`, { timeoutMs: 5000 });
    expect(a.status).toBe(200);
    expect(s.connections).toHaveLength(2);
  });

  it('sends the GET again on a new socket when a reused one is closed unanswered', async () => {
    let n = 0;
    const s = await start((req, res) => {
      // The second request on the first connection: closed without an answer, as a server timing it out would.
      if (++n === 2) return void req.socket.destroy();
      json({ n })(req, res);
    }, 5000);
    expect(JSON.parse((await httpGet(`${s.url}/a`, { timeoutMs: 5000 })).body)).toEqual({ n: 1 });
    expect(JSON.parse((await httpGet(`${s.url}/b`, { timeoutMs: 5000 })).body)).toEqual({ n: 3 });
    expect(s.connections).toHaveLength(2);
  });

  it('reads a body sent in many chunks whole, and a gzip one decoded', async () => {
    const text = JSON.stringify({ items: Array.from({ length: 2000 }, (_, i) => `é-${i}`) });
    const s = await start((req, res) => {
      if (req.url === '/gz') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        return void res.end(zlib.gzipSync(text));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      const buf = Buffer.from(text);
      // Split inside a multi-byte character too.
      for (let i = 0; i < buf.length; i += 1001) res.write(buf.subarray(i, i + 1001));
      res.end();
    });
    expect((await httpGet(`${s.url}/plain`, { timeoutMs: 5000 })).body).toBe(text);
    expect((await httpGet(`${s.url}/gz`, { timeoutMs: 5000 })).body).toBe(text);
  });

  it('fails when the connection ends before the body does', async () => {
    const s = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial": ');
      setImmediate(() => res.socket?.destroy());
    });
    await expect(httpGet(`${s.url}/cut`, { timeoutMs: 5000 })).rejects.toThrow();
  });

  it('rejects with the caller’s reason when aborted mid-answer', async () => {
    let answering!: () => void;
    const answered = new Promise<void>((r) => (answering = r));
    const s = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"slow": ');
      answering();
    });
    const ctrl = new AbortController();
    const reason = new Error('stop');
    const pending = httpGet(`${s.url}/slow`, { timeoutMs: 5000, signal: ctrl.signal });
    await answered;
    ctrl.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });
});
