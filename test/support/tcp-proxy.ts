// A TCP proxy in front of Postgres whose new connections a test can hold, so
// a client that lost a connection stays disconnected exactly as long as the
// test wants (pg-boss proves LISTEN reconnects the same way). Connections
// already piped keep working while new ones wait.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far (held ones included). */
  accepted: number;
  /** New connections wait (accepted, not forwarded) until `release`. */
  hold(): void;
  release(): void;
  /** Resolves when a connection arrives while holding. */
  nextHeld(): Promise<void>;
  /** Cut every connection piped so far (the server keeps accepting). */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let holding = false;
  const held: net.Socket[] = [];
  const waiters: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const pipe = (client: net.Socket) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => (client.destroy(), upstream.destroy());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  };
  const server = net.createServer((client) => {
    proxy.accepted++;
    sockets.add(client);
    if (!holding) return pipe(client);
    client.pause();
    held.push(client);
    waiters.splice(0).forEach((w) => w());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: TcpProxy = {
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    hold: () => void (holding = true),
    release() {
      holding = false;
      for (const c of held.splice(0)) {
        pipe(c);
        c.resume();
      }
    },
    nextHeld: () => new Promise((resolve) => (held.length ? resolve() : waiters.push(resolve))),
    dropAll() {
      for (const s of sockets) if (!held.includes(s)) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return proxy;
}
