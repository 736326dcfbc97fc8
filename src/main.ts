// Entry point: `npm start [-- --role api|runner]`.
import { startApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`reelay: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  let app;
  try {
    app = await startApp(config, { log });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`reelay: ${err.message}`);
      process.exit(2);
    }
    log.fatal({ err }, 'reelay failed to start');
    process.exit(1);
  }
  const where = app.url ? ` at ${app.url}/graphql` : '';
  log.info({ role: config.role, providers: config.providers.map((p) => p.id), db: app.services.database.driver, runner: app.runner?.id }, `reelay ready${where}`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 5000);
    force.unref();
    void app.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
