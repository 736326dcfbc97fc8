// Where change events travel between processes. By default Postgres
// LISTEN/NOTIFY: a writer notifies inside its transaction and Postgres delivers
// at commit, in commit order. REELAY_EVENTS_URL=redis://… or nats://… moves
// them to Redis pub/sub or NATS core pub/sub: writers publish after their
// commit (never before the row is visible), and no pg_notify is issued, so
// commits no longer queue on NOTIFY's database-wide lock. Both clients
// reconnect on their own; every re-established subscription is reported
// (onReconnect) so listeners re-sync what they may have missed.
import type { NatsConnection } from 'nats';
import { ConfigError } from '../config.js';
import type { Database, Notification } from '../db/client.js';
import type { Logger } from '../logger.js';

export interface Transport {
  /** 'postgres': notify inside the writing transaction; otherwise publish after commit. */
  readonly kind: 'postgres' | 'redis' | 'nats';
  /** Subscribe; `onReconnect` runs after the first subscription and after every re-established one. */
  listen(channel: string, fn: Notification, onReconnect?: () => void): Promise<() => Promise<void>>;
  /** External buses only: publish each payload (called after the commit). */
  publish(channel: string, payloads: string[]): Promise<void>;
  close(): Promise<void>;
}

/** How long the first connection to an event bus may take before the start fails. */
const CONNECT_TIMEOUT_MS = 5_000;

/** The URL without credentials, for messages. */
export function describeBusUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return 'REELAY_EVENTS_URL';
  }
}

export async function openTransport(database: Database, eventsUrl: string | undefined, log?: Logger): Promise<Transport> {
  if (!eventsUrl) return postgresTransport(database);
  const scheme = eventsUrl.slice(0, eventsUrl.indexOf(':'));
  if (scheme === 'redis' || scheme === 'rediss') return openRedis(eventsUrl, log);
  if (scheme === 'nats') return openNats(eventsUrl, log);
  throw new ConfigError(`REELAY_EVENTS_URL must start with redis://, rediss:// or nats:// (got ${describeBusUrl(eventsUrl)})`);
}

function unreachable(url: string, err: unknown): ConfigError {
  const e = err as { code?: string; message?: string };
  const why = (e.message || e.code || String(err)).split('\n')[0];
  return new ConfigError(`cannot connect to the event bus at ${describeBusUrl(url)}: ${why}`);
}

export function postgresTransport(database: Database): Transport {
  return {
    kind: 'postgres',
    listen: (channel, fn, onReconnect) => database.listen(channel, fn, onReconnect),
    publish: () => Promise.reject(new Error('Postgres notifications are sent inside the transaction')),
    close: async () => {},
  };
}

async function withDeadline<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s (${what})`)), CONNECT_TIMEOUT_MS);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Redis pub/sub: one connection publishes, one subscribes (a subscribed Redis
 * connection can do nothing else). Subscriptions are re-sent by hand after a
 * reconnect, and only once Redis confirmed them is the re-sync signalled: a
 * re-sync that read the database before the subscription was back could miss
 * a change published in between.
 */
async function openRedis(url: string, log?: Logger): Promise<Transport> {
  const options = {
    lazyConnect: true,
    autoResubscribe: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(100 * times, 2_000),
  };
  // Loaded only when used: most deployments never need a bus client.
  const { Redis } = await import('ioredis');
  const pub = new Redis(url, options);
  const sub = new Redis(url, options);
  const channels = new Map<string, { fn: Notification; onReconnect?: () => void }>();
  // Until the first connection stands, a failure is the start's one-line refusal.
  let lastError: Error | undefined;
  const quiet = (err: Error) => void (lastError = err);
  for (const c of [pub, sub]) c.on('error', quiet);
  try {
    await withDeadline(
      Promise.all([pub.connect(), sub.connect()]).then(() => pub.ping()),
      'redis',
    );
  } catch (err) {
    pub.disconnect();
    sub.disconnect();
    throw unreachable(url, lastError ?? err);
  }
  for (const c of [pub, sub]) {
    c.off('error', quiet);
    c.on('error', (err: Error) => log?.warn({ err: err.message }, 'event bus (redis) connection error'));
  }
  sub.on('message', (channel: string, message: string) => channels.get(channel)?.fn(message));
  // 'ready' of the first connection has passed: every later one is a reconnect.
  sub.on('ready', () => {
    const names = [...channels.keys()];
    if (!names.length) return;
    sub
      .subscribe(...names)
      .then(() => {
        log?.info('event bus (redis) reconnected; re-syncing');
        for (const c of channels.values()) c.onReconnect?.();
      })
      .catch((err: Error) => log?.warn({ err: err.message }, 'event bus (redis) could not re-subscribe'));
  });
  return {
    kind: 'redis',
    async listen(channel, fn, onReconnect) {
      channels.set(channel, { fn, onReconnect });
      await sub.subscribe(channel);
      onReconnect?.();
      return async () => {
        channels.delete(channel);
        await sub.unsubscribe(channel).catch(() => {});
      };
    },
    async publish(channel, payloads) {
      if (payloads.length === 1) await pub.publish(channel, payloads[0]!);
      else if (payloads.length) await payloads.reduce((p, m) => p.publish(channel, m), pub.pipeline()).exec();
    },
    async close() {
      channels.clear();
      await Promise.all([pub.quit().catch(() => pub.disconnect()), sub.quit().catch(() => sub.disconnect())]);
    },
  };
}

/**
 * NATS core pub/sub. The client re-subscribes by itself after a reconnect;
 * a flush (a round trip behind those subscriptions) proves the server has
 * them before the re-sync is signalled.
 */
async function openNats(url: string, log?: Logger): Promise<Transport> {
  const { connect, Events } = await import('nats');
  let nc: NatsConnection;
  try {
    const u = new URL(url);
    nc = await withDeadline(
      connect({
        servers: `${u.hostname}:${u.port || 4222}`,
        user: u.username ? decodeURIComponent(u.username) : undefined,
        pass: u.password ? decodeURIComponent(u.password) : undefined,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: CONNECT_TIMEOUT_MS,
      }),
      'nats',
    );
  } catch (err) {
    throw unreachable(url, err);
  }
  const reconnects = new Set<() => void>();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) log?.warn('event bus (nats) disconnected');
      if (s.type !== Events.Reconnect) continue;
      try {
        await nc.flush();
      } catch {
        continue;
      }
      log?.info('event bus (nats) reconnected; re-syncing');
      for (const fn of reconnects) fn();
    }
  })();
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  return {
    kind: 'nats',
    async listen(channel, fn, onReconnect) {
      const s = nc.subscribe(channel, { callback: (err, msg) => err || fn(dec.decode(msg.data)) });
      await nc.flush();
      if (onReconnect) reconnects.add(onReconnect);
      onReconnect?.();
      return async () => {
        if (onReconnect) reconnects.delete(onReconnect);
        s.unsubscribe();
      };
    },
    async publish(channel, payloads) {
      for (const p of payloads) nc.publish(channel, enc.encode(p));
    },
    async close() {
      reconnects.clear();
      await nc.drain().catch(() => nc.close());
    },
  };
}
