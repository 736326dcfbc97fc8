// Task change notifications. Payloads carry ids only (and, over Postgres, a
// mark); listeners load the rows themselves (task-feed.ts).
//
// Writers announce a change with `publishTaskChanged(tx, ids, { wake })`
// inside the transaction that made it. How it travels depends on the bus
// (transports.ts):
// - Postgres LISTEN/NOTIFY (the default): one pg_notify statement inside the
//   transaction, delivered exactly when it commits. The payload is the id and
//   a mark, the xmin of the writer's snapshot. Postgres delivers notifications
//   in commit order, and a transaction that commits after this one was not
//   visible to that snapshot, so its id (change_xid) is >= the mark: after a
//   reconnect, listeners re-load what changed at or above the last mark they
//   handled (see task-feed.ts).
// - Redis or NATS (REELAY_EVENTS_URL): nothing is sent to Postgres; the ids are
//   kept with the transaction and published after it commits (`publishThrough`
//   makes every `db.transaction` of the process do that). Such a bus does not
//   deliver in commit order, so payloads carry no mark: each listening process
//   takes its own marks (a snapshot xmin every MARK_LAG_MS) and trusts one only
//   after it stayed connected for MARK_LAG_MS more, the time a publish may
//   trail its commit. A re-sync then re-loads what changed since such a mark.
import { sql, type Placeholder, type SQL } from 'drizzle-orm';
import { currentMark } from '../db/changed-tasks.js';
import type { Database, Db, DbOrTx } from '../db/client.js';
import type { Logger } from '../logger.js';
import { postgresTransport, type Transport } from './transports.js';

export const TASK_CHANNEL = 'reelay_task';
/** Runners listen here to claim new work without waiting for a tick. */
export const WAKE_CHANNEL = 'reelay_wake';

/** The suffix of a progress-only notice (see ChangeKind.progress). */
const PROGRESS_SUFFIX = ' p';

const MARK = sql`' ' || pg_snapshot_xmin(pg_current_snapshot())::text`;
const PROGRESS_MARK = sql`${MARK} || ${sql.raw(`'${PROGRESS_SUFFIX}'`)}`;

/** External buses: how often a listener takes a mark, and how long a publish may trail its commit. */
export const MARK_LAG_MS = 5_000;

interface Outbox {
  tasks: string[];
  wake: boolean;
}

/** Transactions of a database that publishes through an external bus, and what each will publish. */
const outboxes = new WeakMap<object, Outbox>();
const externalBus = new WeakMap<object, Transport>();

/** What kind of change is announced. */
export interface ChangeKind {
  /** Runners may find work (a task was queued or a slot freed). */
  wake?: boolean;
  /**
   * Only progress changed (progress, upstream status, next poll time) of a
   * PROCESSING task, written by its lease holder: no status, lease or result
   * change. Listeners that only care about those (runners watching the tasks
   * they hold) skip such notices; a notice says so with a trailing ` p`.
   */
  progress?: boolean;
}

/**
 * Announce changed tasks (and, with `wake`, that runners may find work).
 * Call it inside the writing transaction, after the writes: with Postgres it
 * is one statement, delivered at commit; with an external bus it costs no
 * round trip and is published after the commit. Called with a database
 * handle outside any transaction, the change must have committed already.
 */
export async function publishTaskChanged(tx: DbOrTx, ids: readonly string[], opts: ChangeKind = {}): Promise<void> {
  const box = outboxes.get(tx);
  if (box) {
    box.tasks.push(...(opts.progress ? ids.map((id) => id + PROGRESS_SUFFIX) : ids));
    box.wake ||= opts.wake === true;
    return;
  }
  const bus = externalBus.get(tx);
  if (bus) return send(bus, { tasks: opts.progress ? ids.map((id) => id + PROGRESS_SUFFIX) : [...ids], wake: opts.wake === true });
  if (!ids.length && !opts.wake) return;
  const wake = opts.wake ? sql`select pg_notify(${WAKE_CHANNEL}, '')` : undefined;
  if (!ids.length) return void (await tx.execute(wake!));
  const mark = opts.progress ? PROGRESS_MARK : MARK;
  if (ids.length === 1) {
    await tx.execute(sql`select pg_notify(${TASK_CHANNEL}, ${ids[0]}::text || ${mark})${opts.wake ? sql`, pg_notify(${WAKE_CHANNEL}, '')` : sql``}`);
    return;
  }
  // One array parameter: the same statement text (prepared once) for any number of ids.
  const array = `{${ids.map((id) => `"${id.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
  const tasks = sql`select pg_notify(${TASK_CHANNEL}, id || ${mark}) from unnest(${array}::text[]) as id`;
  await tx.execute(wake ? sql`${tasks} union all ${wake}` : tasks);
}

/**
 * For a write done in a single statement (no round trip of its own): a row
 * source to embed where it is evaluated exactly once, e.g. `insert into …
 * select … from ${changeNotices(db, id)} as n` in a CTE (a CTE that only
 * selects is not run unless referenced). With Postgres it notifies the change
 * of `taskId` (and wakes runners) when the statement's transaction commits;
 * with an external bus it is one empty row and the writer must call
 * `announceWritten` after the statement. `taskId` may be a column of a
 * multi-row source (`from rows r, lateral ${changeNotices(db, sql`r.id`)} as n`):
 * one notification per row (identical notifications, such as the wake of every
 * row, are delivered once per transaction).
 */
export function changeNotices(db: DbOrTx, taskId: string | Placeholder | SQL, opts: ChangeKind = {}): SQL {
  if (outboxes.has(db) || externalBus.has(db)) return sql`(select 1)`;
  const wake = opts.wake ? sql`, pg_notify(${WAKE_CHANNEL}, '')` : sql``;
  return sql`(select pg_notify(${TASK_CHANNEL}, ${taskId}::text || ${opts.progress ? PROGRESS_MARK : MARK})${wake})`;
}

/**
 * After a statement that embedded `changeNotices`: nothing more with Postgres;
 * with an external bus, publish (after the commit, when `db` is a transaction).
 */
export async function announceWritten(db: DbOrTx, ids: readonly string[], opts: ChangeKind = {}): Promise<void> {
  if (outboxes.has(db) || externalBus.has(db)) await publishTaskChanged(db, ids, opts);
}

async function send(bus: Transport, box: Outbox): Promise<void> {
  if (box.tasks.length) await bus.publish(TASK_CHANNEL, box.tasks);
  if (box.wake) await bus.publish(WAKE_CHANNEL, ['']);
}

/**
 * Route the announcements of `db` through an external bus: every
 * `db.transaction` collects what its callback announces and publishes it once
 * the transaction has committed (nothing when it rolls back).
 */
export function publishThrough(db: Db, bus: Transport, log?: Logger): void {
  if (bus.kind === 'postgres') return;
  externalBus.set(db, bus);
  const begin = db.transaction.bind(db);
  const transaction: Db['transaction'] = async (fn, config) => {
    const box: Outbox = { tasks: [], wake: false };
    const result = await begin((tx) => {
      outboxes.set(tx, box);
      return fn(tx);
    }, config);
    if (box.tasks.length || box.wake) {
      // Not awaited: the write is done; the bus client keeps order and queues while reconnecting.
      send(bus, box).catch((err: unknown) => log?.warn({ err }, 'could not publish a task change; listeners re-sync when their bus reconnects'));
    }
    return result;
  };
  db.transaction = transaction;
}

type Listener<T> = (value: T) => void;

/** A task change: its id, the writer's mark (null from a writer that sent none), and whether only progress changed. */
export interface TaskNotice {
  id: string;
  mark: number | null;
  progress: boolean;
}

/**
 * `<id>[ <mark>][ p]`: the mark is sent over Postgres only, the `p` by writers
 * of progress-only changes (older readers take an id and a mark, and read a
 * `p` in the mark's place as no mark).
 */
export function parseNotice(payload: string): TaskNotice {
  const progress = payload.endsWith(PROGRESS_SUFFIX);
  const [id = '', mark] = (progress ? payload.slice(0, -PROGRESS_SUFFIX.length) : payload).split(' ');
  const n = mark === undefined ? NaN : Number(mark);
  return { id, mark: Number.isSafeInteger(n) ? n : null, progress };
}

export class TaskEvents {
  private taskListeners = new Set<Listener<TaskNotice>>();
  private wakeListeners = new Set<Listener<void>>();
  private resyncListeners = new Set<Listener<void>>();
  private markListeners = new Set<Listener<number>>();
  private unlisten: Array<() => Promise<void>> = [];
  private connectedOnce = false;
  private readonly transport: Transport;
  private markTimer?: NodeJS.Timeout;
  /** External buses: the last mark taken, trusted at the next tick unless the bus reconnected meanwhile. */
  private sampled: number | null = null;
  /** Subscriptions (re-)established so far: a mark taken across one is not trusted. */
  private connections = 0;

  constructor(
    private readonly database: Database,
    transport?: Transport,
  ) {
    this.transport = transport ?? postgresTransport(database);
  }

  get bus(): Transport['kind'] {
    return this.transport.kind;
  }

  async start(): Promise<void> {
    this.unlisten.push(
      await this.transport.listen(TASK_CHANNEL, (payload) => this.emit(this.taskListeners, parseNotice(payload)), () => {
        // The first call is the initial subscription; later ones follow a
        // reconnect, during which notifications may have been missed.
        this.sampled = null;
        this.connections++;
        if (this.connectedOnce) this.emit(this.resyncListeners, undefined);
        this.connectedOnce = true;
      }),
      await this.transport.listen(WAKE_CHANNEL, () => this.emit(this.wakeListeners, undefined)),
    );
    if (this.transport.kind !== 'postgres') {
      this.markTimer = setInterval(() => void this.tickMark(), MARK_LAG_MS);
      this.markTimer.unref();
      await this.tickMark();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.markTimer);
    const fns = this.unlisten.splice(0);
    await Promise.all(fns.map((f) => f().catch(() => {})));
    this.taskListeners.clear();
    this.wakeListeners.clear();
    this.resyncListeners.clear();
    this.markListeners.clear();
    await this.transport.close().catch(() => {});
  }

  /** `progress`: only progress changed (ChangeKind.progress). */
  onTask(fn: (id: string, mark: number | null, progress: boolean) => void): () => void {
    return this.add(this.taskListeners, (n) => fn(n.id, n.mark, n.progress));
  }

  onWake(fn: Listener<void>): () => void {
    return this.add(this.wakeListeners, fn);
  }

  /** Called after the notification connection was re-established. */
  onResync(fn: Listener<void>): () => void {
    return this.add(this.resyncListeners, fn);
  }

  /** External buses: a mark every change below which has been announced to this process. */
  onMark(fn: Listener<number>): () => void {
    return this.add(this.markListeners, fn);
  }

  private async tickMark(): Promise<void> {
    if (this.sampled !== null) this.emit(this.markListeners, this.sampled);
    this.sampled = null;
    const connection = this.connections;
    try {
      const mark = await currentMark(this.database.db);
      // Taken across a reconnect: changes missed before it may lie below it.
      if (connection === this.connections) this.sampled = mark;
    } catch {
      /* the next tick tries again */
    }
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
