// Wires the services together and starts the roles asked for: the API
// (HTTP + WebSocket), the runner, or both.
import fs from 'node:fs';
import path from 'node:path';
import { Auth } from './auth.js';
import { ConfigError, isLoopbackHost, type Config } from './config.js';
import { openDatabase } from './db/client.js';
import { getTasksByIds } from './db/read-tasks.js';
import { startCountRollup } from './db/roll-up-counts.js';
import { startHistoryRollup } from './db/roll-up-history.js';
import { publishThrough, TaskEvents } from './events/bus.js';
import { openTransport } from './events/transports.js';
import { TaskFeed } from './events/task-feed.js';
import { serveKeysControl } from './keys/control.js';
import { createLogger, type Logger } from './logger.js';
import { HealthMonitor } from './providers/health.js';
import { ProviderRegistry } from './providers/registry.js';
import { strandedTasks } from './db/count-stranded-tasks.js';
import { releaseAllLeases } from './db/release-leases.js';
import { Runner } from './runner/runner.js';
import { WebhookDeliverer } from './runner/webhook-deliverer.js';
import { createHttpServer, type HttpServer } from './server/http.js';
import { startMetricsServer, type MetricsServer } from './server/metrics.js';
import { compileProxyTrust } from './net/trust-proxy.js';
import type { Services } from './services.js';

export interface App {
  services: Services;
  http?: HttpServer;
  runner?: Runner;
  /** The metrics listener of a `--role runner` process (REELAY_METRICS_PORT). */
  metrics?: MetricsServer;
  /** The bound port when the API role runs. */
  port?: number;
  url?: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Use an in-memory PGlite (tests) instead of REELAY_DATA_DIR/db. */
  inMemoryDb?: boolean;
  runnerIdleMs?: number;
  /** Ready-made providers instead of the ones the config describes (tests, benchmarks, embedding). */
  registry?: ProviderRegistry;
  /** Sees every database query (tests count them). */
  queryLogger?: { logQuery(query: string, params: unknown[]): void };
}

/** Listen, turning the usual operator mistakes into one-line refusals. */
async function listenOrExplain(http: HttpServer, config: Config): Promise<number> {
  try {
    return await http.listen();
  } catch (err) {
    const where = `${config.host}:${config.port}`;
    switch ((err as NodeJS.ErrnoException).code) {
      case 'EADDRINUSE':
        throw new ConfigError(`cannot listen on ${where}: the port is already in use (another reelay?); stop that process or set PORT`);
      case 'EACCES':
        throw new ConfigError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges); set PORT`);
      case 'EADDRNOTAVAIL':
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        throw new ConfigError(`cannot listen on ${where}: HOST is not an address of this machine; set HOST`);
      default:
        throw err;
    }
  }
}

export async function startApp(config: Config, opts: StartOptions = {}): Promise<App> {
  const log = opts.log ?? createLogger(config.logLevel);
  fs.mkdirSync(config.filesDir, { recursive: true });
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: opts.inMemoryDb ? undefined : path.join(config.dataDir, 'db'),
    logger: opts.queryLogger,
    purpose: `reelay ${config.role === 'all' ? 'server' : config.role}`,
    onLockCompromised: (err) => {
      // Another process took the embedded database over: writing on would
      // lose one side's rows, so stop at once.
      log.fatal({ err }, 'lost the lock on the embedded database; exiting');
      process.exit(1);
    },
    log,
  });
  const cleanups: Array<() => Promise<void> | void> = [() => database.close()];
  try {
    const transport = await openTransport(database, config.eventsUrl, log);
    cleanups.unshift(() => transport.close());
    // Both handles that write tasks: the API's and the runner's own pool.
    for (const handle of [database.db, database.workDb]) publishThrough(handle, transport, log);
    // Every role folds the task counters' deltas (one process at a time wins; see roll-up-counts.ts).
    const rollup = startCountRollup(database.choresDb, { onError: (err) => log.warn({ err }, 'task counter roll-up failed; retrying') });
    cleanups.unshift(() => rollup.stop());
    const historyRollup = startHistoryRollup(database.choresDb, { onError: (err) => log.warn({ err }, 'task history roll-up failed; retrying') });
    cleanups.unshift(() => historyRollup.stop());
    const events = new TaskEvents(database, transport);
    await events.start();
    cleanups.unshift(() => events.close());
    const registry = opts.registry ?? (await ProviderRegistry.create(config.providers, { workDir: path.join(config.dataDir, 'work'), maxImagePixels: config.maxImagePixels, renderStallMs: config.renderStallMs }));
    cleanups.unshift(() => registry.close());
    const health = new HealthMonitor(registry, database.workDb, log, { intervalMs: config.healthIntervalMs });
    health.start();
    cleanups.unshift(() => health.stop());
    const auth = await Auth.start({ database, keys: config.apiKeys, host: config.host, watch: config.role !== 'runner', log });
    cleanups.unshift(() => auth.close());
    if (database.dataDir) {
      // `npm run keys` while this process owns the embedded database.
      const control = await serveKeysControl(database.dataDir, database.db, log);
      if (control) cleanups.unshift(() => control.close());
    }
    const feed = new TaskFeed(events, (ids) => getTasksByIds(database.db, ids), log);
    cleanups.unshift(() => feed.close());
    const services: Services = { config, database, events, feed, registry, health, auth, log };

    const app: App = { services, stop: async () => {} };
    if (config.role !== 'runner') {
      if (!isLoopbackHost(config.host) && !auth.keysExistedAtStart) {
        throw new ConfigError(`HOST=${config.host} is not a loopback address and no API keys exist: set REELAY_API_KEYS or run "npm run keys -- create <name>" (an open server is only allowed on 127.0.0.1/localhost)`);
      }
      app.http = createHttpServer(services);
      app.port = await listenOrExplain(app.http, config);
      app.url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${app.port}`;
      const http = app.http;
      cleanups.unshift(() => http.close(config.shutdownTimeoutMs));
    }
    if (config.role !== 'api') {
      if (database.driver === 'pglite') {
        const resumed = await releaseAllLeases(database.db);
        if (resumed) log.info({ tasks: resumed }, 'resuming tasks interrupted by the previous run');
      }
      for (const s of await strandedTasks(database.db, registry.list().map((e) => e.config.id))) {
        log.warn({ provider: s.provider, tasks: s.tasks }, `${s.tasks} unfinished task(s) wait for provider "${s.provider}", which this configuration does not have; they stay queued until it is configured again`);
      }
      const runner = new Runner({
        // Its own pool (Postgres) or behind API queries (PGlite): client requests never wait behind runner work.
        db: database.workDb,
        events,
        feed,
        registry,
        health,
        filesDir: config.filesDir,
        publicUrl: config.publicUrl,
        fileUrls: config.fileUrls,
        log: log.child({ runner: true }),
        leaseMs: config.leaseMs,
        concurrency: config.runnerConcurrency,
        maxAttempts: config.maxAttempts,
        maxResultBytes: config.maxResultBytes,
        maxImagePixels: config.maxImagePixels,
        idleMs: opts.runnerIdleMs,
        retention: { taskDays: config.retentionDays, fileDays: config.fileRetentionDays, intervalMs: config.retentionIntervalMs },
      });
      runner.start();
      app.runner = runner;
      // Webhook deliveries: every runner process sends the outbox.
      const webhooks = new WebhookDeliverer({
        db: database.choresDb,
        events,
        config: config.webhooks,
        publicUrl: config.publicUrl,
        fallbackOrigin: app.url ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`,
        fileUrls: config.fileUrls,
        currencyOf: (id) => registry.get(id)?.config.pricing?.currency,
        log: log.child({ webhooks: true }),
      });
      if (config.role === 'runner' && config.metricsPort !== undefined) {
        const access = { token: config.metricsToken, trust: compileProxyTrust(config.trustProxy) };
        const metrics = await startMetricsServer(config.host, config.metricsPort, access, log).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EADDRINUSE' || err.code === 'EACCES' ? new ConfigError(`cannot serve metrics on ${config.host}:${config.metricsPort} (${err.code}); set REELAY_METRICS_PORT`) : err;
        });
        app.metrics = metrics;
        cleanups.unshift(() => metrics.close());
      }
      // Stop order: API first (in-flight requests may still cancel), then the
      // runner hands back its leases, then providers, events and the database.
      const apiFirst = app.http ? 1 : 0;
      cleanups.splice(apiFirst, 0, () => runner.stop(config.shutdownTimeoutMs), () => webhooks.stop(config.shutdownTimeoutMs));
      webhooks.start();
    }
    let stopped: Promise<void> | undefined;
    app.stop = () =>
      (stopped ??= (async () => {
        for (const fn of cleanups) {
          try {
            await fn();
          } catch (err) {
            log.warn({ err }, 'error during shutdown');
          }
        }
      })());
    return app;
  } catch (err) {
    for (const fn of cleanups) await Promise.resolve(fn()).catch(() => {});
    throw err;
  }
}
