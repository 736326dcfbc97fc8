// Task change notifications. Writers call `notifyTaskChanged` inside the
// transaction that changed the row, so the notification is delivered exactly
// when the change commits (Postgres LISTEN/NOTIFY across processes; PGlite
// delivers the same notifications in process). The payload is only the task
// id: listeners load the row themselves, and re-sync after a reconnect.
import { sql } from 'drizzle-orm';
import type { Database, DbOrTx } from '../db/client.js';

export const TASK_CHANNEL = 'reelay_task';
/** Runners listen here to claim new work without waiting for a tick. */
export const WAKE_CHANNEL = 'reelay_wake';

export async function notifyTaskChanged(tx: DbOrTx, taskId: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${TASK_CHANNEL}, ${taskId})`);
}

/** One round trip for many ids (a claim starts a whole batch). */
export async function notifyTasksChanged(tx: DbOrTx, taskIds: string[]): Promise<void> {
  if (!taskIds.length) return;
  const ids = sql.join(taskIds.map((id) => sql`${id}`), sql`, `);
  await tx.execute(sql`select pg_notify(${TASK_CHANNEL}, id) from unnest(array[${ids}]::text[]) as id`);
}

export async function notifyWake(tx: DbOrTx): Promise<void> {
  await tx.execute(sql`select pg_notify(${WAKE_CHANNEL}, '')`);
}

type Listener<T> = (value: T) => void;

export class TaskEvents {
  private taskListeners = new Set<Listener<string>>();
  private wakeListeners = new Set<Listener<void>>();
  private resyncListeners = new Set<Listener<void>>();
  private unlisten: Array<() => Promise<void>> = [];
  private connectedOnce = false;

  constructor(private readonly database: Database) {}

  async start(): Promise<void> {
    this.unlisten.push(
      await this.database.listen(TASK_CHANNEL, (id) => this.emit(this.taskListeners, id), () => {
        // The first call is the initial LISTEN; later ones follow a reconnect,
        // during which notifications may have been missed.
        if (this.connectedOnce) this.emit(this.resyncListeners, undefined);
        this.connectedOnce = true;
      }),
      await this.database.listen(WAKE_CHANNEL, () => this.emit(this.wakeListeners, undefined)),
    );
  }

  async close(): Promise<void> {
    const fns = this.unlisten.splice(0);
    await Promise.all(fns.map((f) => f().catch(() => {})));
    this.taskListeners.clear();
    this.wakeListeners.clear();
    this.resyncListeners.clear();
  }

  onTask(fn: Listener<string>): () => void {
    return this.add(this.taskListeners, fn);
  }

  onWake(fn: Listener<void>): () => void {
    return this.add(this.wakeListeners, fn);
  }

  /** Called after the notification connection was re-established. */
  onResync(fn: Listener<void>): () => void {
    return this.add(this.resyncListeners, fn);
  }

  private add<T>(set: Set<Listener<T>>, fn: Listener<T>): () => void {
    set.add(fn);
    return () => set.delete(fn);
  }

  private emit<T>(set: Set<Listener<T>>, value: T): void {
    for (const fn of [...set]) {
      try {
        fn(value);
      } catch {
        /* a listener's failure is its own */
      }
    }
  }
}
