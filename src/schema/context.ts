// Per-operation context: who is asking, the services, and batching loaders.
import DataLoader from 'dataloader';
import type { Principal } from '../auth.js';
import type { TaskEventRow, TaskRow } from '../db/schema.js';
import { getQueuePositions } from '../db/fair-queue.js';
import { getEventsForTasks, getTasksByIds } from '../db/read-tasks.js';
import type { Services } from '../services.js';

export interface Loaders {
  task: DataLoader<string, TaskRow | null>;
  events: DataLoader<string, TaskEventRow[]>;
  queuePosition: DataLoader<string, number | null>;
}

export interface Context {
  owner: string;
  /** How the owner was authenticated (its live subscriptions end when the key stops working). */
  principal: Principal;
  requestId: string;
  /** Origin used to turn /files/ paths into absolute URLs. */
  origin: string;
  services: Services;
  loaders: Loaders;
}

// Batching only, no caching: subscriptions reuse one context across events
// and must always see fresh rows. Each loader is made when first used: most
// operations (and every idle subscription) use none or one of them, and a
// server with thousands of subscriptions keeps one context each.
class LazyLoaders implements Loaders {
  private taskLoader?: Loaders['task'];
  private eventsLoader?: Loaders['events'];
  private queuePositionLoader?: Loaders['queuePosition'];

  constructor(private readonly db: Services['database']['db']) {}

  get task(): Loaders['task'] {
    const db = this.db;
    return (this.taskLoader ??= new DataLoader(
      async (ids) => {
        const rows = await getTasksByIds(db, ids);
        const byId = new Map(rows.map((r) => [r.id, r]));
        return ids.map((id) => byId.get(id) ?? null);
      },
      { cache: false },
    ));
  }

  get events(): Loaders['events'] {
    const db = this.db;
    return (this.eventsLoader ??= new DataLoader(
      async (ids) => {
        const rows = await getEventsForTasks(db, ids);
        const byTask = new Map<string, TaskEventRow[]>();
        for (const r of rows) (byTask.get(r.taskId) ?? byTask.set(r.taskId, []).get(r.taskId)!).push(r);
        return ids.map((id) => byTask.get(id) ?? []);
      },
      { cache: false },
    ));
  }

  get queuePosition(): Loaders['queuePosition'] {
    const db = this.db;
    return (this.queuePositionLoader ??= new DataLoader(
      async (ids) => {
        const positions = await getQueuePositions(db, ids);
        return ids.map((id) => positions.get(id) ?? null);
      },
      { cache: false },
    ));
  }
}

export function createLoaders(services: Services): Loaders {
  return new LazyLoaders(services.database.db);
}
