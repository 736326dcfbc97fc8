// Task change notifications. Writers call `notifyTaskChanged` inside the
// transaction that changed the row, so the notification is delivered exactly
// when the change commits (Postgres LISTEN/NOTIFY across processes; PGlite
// delivers the same notifications in process). The payload is the task id
// and a mark: the xmin of the writer's snapshot. Postgres delivers
// notifications in commit order, and a transaction that commits after this
// one was not visible to that snapshot, so its id (change_xid) is >= the mark:
// after a reconnect, listeners re-load what changed at or above the last mark
// they handled (see task-feed.ts). Listeners load the rows themselves.
import { sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { Database, DbOrTx } from '../db/client.js';

export const TASK_CHANNEL = 'reelay_task';
/** Runners listen here to claim new work without waiting for a tick. */
export const WAKE_CHANNEL = 'reelay_wake';

const MARK = sql`' ' || pg_snapshot_xmin(pg_current_snapshot())::text`;

export async function notifyTaskChanged(tx: DbOrTx, taskId: string): Promise<void> {
  await tx.execute(sql`select pg_notify(${TASK_CHANNEL}, ${taskId}::text || ${MARK})`);
}

/** One round trip for many ids (a claim starts a whole batch). */
export async function notifyTasksChanged(tx: DbOrTx, taskIds: string[]): Promise<void> {
  if (!taskIds.length) return;
  const ids = sql.join(taskIds.map((id) => sql`${id}`), sql`, `);
  await tx.execute(sql`select pg_notify(${TASK_CHANNEL}, id || ${MARK}) from unnest(array[${ids}]::text[]) as id`);
}

export async function notifyWake(tx: DbOrTx): Promise<void> {
  await tx.execute(sql`select pg_notify(${WAKE_CHANNEL}, '')`);
}

/**
 * For a write done in a single statement (no round trip of its own): a row
 * source that notifies the change of `taskId` (and wakes runners) when that
 * statement's transaction commits. Embed it where it is evaluated exactly
 * once, e.g. `insert into … select … from ${changeNotices(id)} as n` in a CTE
 * (a CTE that only selects is not run unless referenced). `taskId` may be a
 * column of a multi-row source (`from rows r, lateral ${changeNotices(sql`r.id`)}
 * as n`): one notification per row (identical notifications, such as the wake
 * of every row, are delivered once per transaction).
 */
export function changeNotices(taskId: string | Placeholder | SQL, opts: { wake?: boolean } = {}): SQL {
  const wake = opts.wake ? sql`, pg_notify(${WAKE_CHANNEL}, '')` : sql``;
  return sql`(select pg_notify(${TASK_CHANNEL}, ${taskId}::text || ${MARK})${wake})`;
}

type Listener<T> = (value: T) => void;

/** A task change: its id, and the writer's mark (null from a writer that sent none). */
export interface TaskNotice {
  id: string;
  mark: number | null;
}

export function parseNotice(payload: string): TaskNotice {
  const [id = '', mark] = payload.split(' ');
  const n = mark === undefined ? NaN : Number(mark);
  return { id, mark: Number.isSafeInteger(n) ? n : null };
}

export class TaskEvents {
  private taskListeners = new Set<Listener<TaskNotice>>();
  private wakeListeners = new Set<Listener<void>>();
  private resyncListeners = new Set<Listener<void>>();
  private unlisten: Array<() => Promise<void>> = [];
  private connectedOnce = false;

  constructor(private readonly database: Database) {}

  async start(): Promise<void> {
    this.unlisten.push(
      await this.database.listen(TASK_CHANNEL, (payload) => this.emit(this.taskListeners, parseNotice(payload)), () => {
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

  onTask(fn: (id: string, mark: number | null) => void): () => void {
    return this.add(this.taskListeners, (n) => fn(n.id, n.mark));
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
