// Everything a request or the runner needs, built once at start.
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import type { TaskEvents } from './events/bus.js';
import type { TaskFeed } from './events/task-feed.js';
import type { Logger } from './logger.js';
import type { Auth } from './auth.js';
import type { HealthMonitor } from './providers/health.js';
import type { ProviderRegistry } from './providers/registry.js';

export interface Services {
  config: Config;
  database: Database;
  events: TaskEvents;
  /** Changed rows for subscriptions, loaded once per change for all subscribers. */
  feed: TaskFeed;
  registry: ProviderRegistry;
  health: HealthMonitor;
  auth: Auth;
  log: Logger;
}
