// Per-operation context: who is asking, the services, and batching loaders.
import DataLoader from 'dataloader';
import type { Principal } from '../auth.js';
import type { TaskEventRow, TaskRow } from '../db/schema.js';
import { getQueuePositions } from '../db/queue-positions.js';
import { getEventsForTasks, getTasksByIds } from '../db/read-tasks.js';
import { listRunningTasks, type RunningTask } from '../db/list-running-tasks.js';
import { runTimeKey, type RunTimeKey, type RunTimes } from '../db/recent-run-times.js';
import { recentRunTimes } from '../tasks/eta-history.js';
import { getWebhookDeliveries, type WebhookDeliveryRow } from '../db/webhook-deliveries.js';
import type { Db } from '../db/client.js';
import type { Services } from '../services.js';

export interface Loaders {
  task: DataLoader<string, TaskRow | null>;
  events: DataLoader<string, TaskEventRow[]>;
  queuePosition: DataLoader<string, number | null>;
  /** Recent run times of a provider and model (cached in the process a few seconds; null: no history). */
  runTimes: DataLoader<RunTimeKey, RunTimes | null, string>;
  /** The tasks running at a provider (the latest started, up to its maxConcurrency). */
  runningTasks: DataLoader<string, RunningTask[]>;
  webhookDeliveries: DataLoader<string, WebhookDeliveryRow[]>;
}

export interface Context {
  owner: string;
  /** How the owner was authenticated (its live subscriptions end when the key stops working). */
  principal: Principal;
  /** The request id (x-request-id; a WebSocket operation has its connection's): for log lines. */
  requestId: string;
  /** Origin used to turn /files/ paths into absolute URLs (worked out when first asked for). */
  origin(): string;
  services: Services;
  loaders: Loaders;
}

// Batching only, no caching: subscriptions reuse one context across events
// and must always see fresh rows. Each loader is made when first used: most
// operations need none or one of them.
class LazyLoaders implements Loaders {
  private made: Partial<Loaders> = {};

  constructor(
    private readonly db: Db,
    /** A provider's maxConcurrency (1 when it is not configured). */
    private readonly concurrencyOf: (providerId: string) => number = () => 1,
  ) {}

  get task(): Loaders['task'] {
    return (this.made.task ??= new DataLoader(
      async (ids) => {
        const rows = await getTasksByIds(this.db, ids);
        const byId = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => byId.get(id) ?? null);
      },
      { cache: false },
    ));
  }

  get events(): Loaders['events'] {
    return (this.made.events ??= new DataLoader(
      async (ids) => {
        const rows = await getEventsForTasks(this.db, ids);
        const byTask = new Map<string, TaskEventRow[]>();
        for (const r of rows) (byTask.get(r.taskId) ?? byTask.set(r.taskId, []).get(r.taskId)!).push(r);
        return ids.map((id) => byTask.get(id) ?? []);
      },
      { cache: false },
    ));
  }

  get webhookDeliveries(): Loaders['webhookDeliveries'] {
    return (this.made.webhookDeliveries ??= new DataLoader(
      async (ids) => {
        const rows = await getWebhookDeliveries(this.db, ids);
        const byTask = new Map<string, WebhookDeliveryRow[]>();
        for (const r of rows) (byTask.get(r.taskId) ?? byTask.set(r.taskId, []).get(r.taskId)!).push(r);
        return ids.map((id) => byTask.get(id) ?? []);
      },
      { cache: false },
    ));
  }

  get queuePosition(): Loaders['queuePosition'] {
    return (this.made.queuePosition ??= new DataLoader(
      async (ids) => {
        const positions = await getQueuePositions(this.db, ids);
        return ids.map((id) => positions.get(id) ?? null);
      },
      { cache: false },
    ));
  }

  get runTimes(): Loaders['runTimes'] {
    return (this.made.runTimes ??= new DataLoader((keys) => recentRunTimes(this.db, keys), { cache: false, cacheKeyFn: runTimeKey }));
  }

  get runningTasks(): Loaders['runningTasks'] {
    return (this.made.runningTasks ??= new DataLoader(
      async (ids) => {
        const running = await listRunningTasks(this.db, ids.map((providerId) => ({ providerId, limit: this.concurrencyOf(providerId) })));
        return ids.map((id) => running.get(id) ?? []);
      },
      { cache: false },
    ));
  }
}

/** Whether the caller may read this task: its own, or any task for an operator key. */
export function canRead(ctx: Pick<Context, 'owner' | 'principal'>, row: Pick<TaskRow, 'owner'>): boolean {
  return row.owner === ctx.owner || ctx.principal.admin === true;
}

/**
 * Whose tasks a read spanning tasks (`tasks`, `stats`) covers: an operator key's
 * span every owner (null), or the one named by `owner`; any other key's are its
 * own, and naming another owner selects nothing (undefined).
 */
export function readScope(ctx: Pick<Context, 'owner' | 'principal'>, owner: string | null | undefined): string | null | undefined {
  if (ctx.principal.admin === true) return owner ?? null;
  return owner === null || owner === undefined || owner === ctx.owner ? ctx.owner : undefined;
}

export function createLoaders(services: Services): Loaders {
  return new LazyLoaders(services.database.db, (id) => services.registry.get(id)?.config.maxConcurrency ?? 1);
}
