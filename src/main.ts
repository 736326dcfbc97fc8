// Entry point: `npm start [-- --role api|runner]` (compiled to dist/main.js).
// A setup the operator must fix (configuration, port in use, database out of
// reach or held by another process) ends with one line and exit code 2.
// First: NODE_ENV must be set before graphql is loaded (production-mode.ts).
import './production-mode.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startApp, type App } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { DatabaseUnavailableError } from './db/client.js';
import { DataDirLockError } from './db/lock.js';
import { createLogger } from './logger.js';
import { installLazySourceMaps } from './source-maps.js';

// Stacks of dist/*.js name the TypeScript lines, maps read when a stack is (see source-maps.ts).
installLazySourceMaps(path.dirname(fileURLToPath(import.meta.url)));

function isSetupError(err: unknown): err is Error {
  return err instanceof ConfigError || err instanceof DatabaseUnavailableError || err instanceof DataDirLockError;
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (isSetupError(err)) {
      console.error(`reelay: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);

  // Listen for signals before starting: one that arrives while the database
  // opens stops the server as soon as it is up, never half-way.
  let app: App | undefined;
  let signalled: string | undefined;
  const shutdown = (signal: string) => {
    if (signalled) return;
    signalled = signal;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000);
    force.unref();
    if (app) void app.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    app = await startApp(config, { log });
  } catch (err) {
    if (isSetupError(err)) {
      console.error(`reelay: ${err.message}`);
      process.exit(2);
    }
    log.fatal({ err }, 'reelay failed to start');
    process.exit(1);
  }
  if (signalled) {
    await app.stop();
    process.exit(0);
  }
  const where = app.url ? ` at ${app.url}/graphql` : '';
  log.info({ role: config.role, pid: process.pid, providers: config.providers.map((p) => p.id), db: app.services.database.driver, runner: app.runner?.id, metricsPort: app.metrics?.port }, `reelay ready${where}`);
}

void main();
