// One shared stream of changed task rows per process. Notifications carry
// ids (and a mark); the feed loads each batch of changed rows once (one query, one
// load at a time so rows never arrive out of order) and hands every
// subscriber the rows it watches. A busy subscriber gets the latest row per
// task, coalesced; `resync` says notifications may have been missed, and
// `since` bounds what: every change not delivered has change_xid >= since.
//
// `since` is the highest mark (bus.ts) of the notifications whose rows were
// loaded and handed out. A notification missed while LISTEN reconnected was
// committed after all of those, so its change_xid is at or above their marks.
// The re-sync is signalled before any notification of the new connection is
// taken from `pending` (those are queued in this tick; flushing waits for
// setImmediate), so `since` never covers a mark of the new connection.
import type { TaskRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { TaskEvents } from './bus.js';

export interface FeedBatch {
  rows: Map<string, TaskRow>;
  resync: boolean;
  /** With `resync`: changes not delivered have change_xid >= since; null: unknown. */
  since: number | null;
  /** When handed out: every change below it was delivered (a later re-sync's `since` is at least this). */
  settled: number | null;
}

/**
 * Watchers handed a batch per event-loop turn. A change watched by thousands
 * of subscribers is delivered in slices: each slice's subscribers run their
 * whole chain (generator, execution, serialization, socket write) before the
 * next slice starts, so the first clients get it at once, the intermediate
 * objects of a slice die young instead of being copied by every scavenge of a
 * wave of thousands, and other I/O (API requests) is served between slices.
 */
export const DELIVERY_SLICE = 256;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const emptyBatch = (): FeedBatch => ({ rows: new Map(), resync: false, since: null, settled: null });
const minMark = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.min(a, b));

export interface FeedWatcher extends AsyncIterableIterator<FeedBatch> {
  close(): void;
}

interface WatcherState {
  accept: (id: string) => boolean;
  /** Predicate watchers: whether progress-only changes (bus.ts ChangeKind.progress) count. */
  progress: boolean;
  /** Set for a watcher of one task: it is indexed by it instead of asked. */
  taskId?: string;
  /** Set for a watcher of one owner's tasks: indexed by the owner instead of asked. */
  owner?: string;
  batch: FeedBatch;
  waiting: ((r: IteratorResult<FeedBatch>) => void) | null;
  closed: boolean;
}

export class TaskFeed {
  /** Watchers that decide by predicate (asked about every change). */
  private readonly watchers = new Set<WatcherState>();
  /** Watchers of one task, by its id: a change costs a lookup, not a call per watcher. */
  private readonly byTask = new Map<string, Set<WatcherState>>();
  /**
   * Watchers of one owner's tasks (tasksUpdated), by owner: a change costs a
   * lookup of its row's owner, and another owner's watchers are not touched.
   * The owner is known only once the row is loaded, so while any is watched
   * every change is loaded (once, as for everyone).
   */
  private readonly byOwner = new Map<string, Set<WatcherState>>();
  private readonly pending = new Set<string>();
  private flushing = false;
  /** Highest mark heard so far. */
  private heard: number | null = null;
  /** Highest mark whose notifications (and all before) were loaded and handed out. */
  private handled: number | null = null;
  private readonly unsubscribe: Array<() => void>;

  constructor(
    events: TaskEvents,
    private readonly load: (ids: string[]) => Promise<TaskRow[]>,
    private readonly log: Logger,
  ) {
    this.unsubscribe = [
      events.onTask((id, mark, progress) => {
        if (mark !== null && (this.heard === null || mark > this.heard)) this.heard = mark;
        if (this.byTask.has(id) || this.byOwner.size > 0 || this.anyAccepts(id, progress)) {
          this.pending.add(id);
          this.schedule();
        }
      }),
      events.onResync(() => this.resyncAll()),
      // External buses: marks come apart from the notices (bus.ts).
      events.onMark((mark) => {
        if (this.heard === null || mark > this.heard) this.heard = mark;
      }),
    ];
  }

  close(): void {
    this.unsubscribe.forEach((u) => u());
    for (const w of [...this.watchers]) this.end(w);
    for (const index of [this.byTask, this.byOwner]) for (const set of [...index.values()]) for (const w of [...set]) this.end(w);
  }

  /**
   * Rows of the tasks `accept` picks, from the moment of this call on. With
   * `progress: false`, a change that only moved a task's progress loads no row
   * for this watcher (it may still get such a row, when another watcher had it loaded).
   */
  watch(accept: (id: string) => boolean, opts: { progress?: boolean } = {}): FeedWatcher {
    const w: WatcherState = { accept, progress: opts.progress ?? true, batch: emptyBatch(), waiting: null, closed: false };
    this.watchers.add(w);
    return this.iterate(w);
  }

  /** Rows of one task, from the moment of this call on. */
  watchTask(taskId: string): FeedWatcher {
    const w: WatcherState = { accept: (id) => id === taskId, progress: true, taskId, batch: emptyBatch(), waiting: null, closed: false };
    let set = this.byTask.get(taskId);
    if (!set) this.byTask.set(taskId, (set = new Set()));
    set.add(w);
    return this.iterate(w);
  }

  /** Rows of the tasks of `owner`, from the moment of this call on. */
  watchOwner(owner: string): FeedWatcher {
    const w: WatcherState = { accept: () => true, progress: true, owner, batch: emptyBatch(), waiting: null, closed: false };
    let set = this.byOwner.get(owner);
    if (!set) this.byOwner.set(owner, (set = new Set()));
    set.add(w);
    return this.iterate(w);
  }

  private anyAccepts(id: string, progress: boolean): boolean {
    for (const w of this.watchers) if ((w.progress || !progress) && w.accept(id)) return true;
    return false;
  }

  private iterate(w: WatcherState): FeedWatcher {
    const it: FeedWatcher = {
      next: () =>
        w.closed
          ? Promise.resolve({ value: undefined, done: true })
          : new Promise((resolve) => {
              w.waiting = resolve;
              this.deliver(w);
            }),
      return: () => {
        this.end(w);
        return Promise.resolve({ value: undefined, done: true });
      },
      close: () => this.end(w),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  private schedule(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.size) {
        const ids = [...this.pending];
        this.pending.clear();
        const mark = this.heard;
        let rows: TaskRow[];
        try {
          rows = await this.load(ids);
        } catch (err) {
          this.log.warn({ err }, 'could not load changed tasks; subscribers re-read');
          this.resyncAll();
          continue;
        }
        const hits = new Set<WatcherState>();
        for (const r of rows) {
          for (const set of [this.byTask.get(r.id), this.byOwner.get(r.owner)]) {
            if (!set) continue;
            for (const w of set) {
              w.batch.rows.set(r.id, r);
              hits.add(w);
            }
          }
        }
        if (this.watchers.size) {
          for (const w of this.watchers) {
            for (const r of rows) {
              if (w.accept(r.id)) {
                w.batch.rows.set(r.id, r);
                hits.add(w);
              }
            }
          }
        }
        if (mark !== null && (this.handled === null || mark > this.handled)) this.handled = mark;
        await this.deliverInSlices(hits);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async deliverInSlices(hits: Set<WatcherState>): Promise<void> {
    let n = 0;
    for (const w of hits) {
      // A watcher closed or resynced meanwhile is skipped or gets its batch as it is now.
      if (n > 0 && n % DELIVERY_SLICE === 0) await nextTurn();
      this.deliver(w);
      n++;
    }
  }

  private allWatchers(): WatcherState[] {
    const all = [...this.watchers];
    for (const index of [this.byTask, this.byOwner]) for (const set of index.values()) all.push(...set);
    return all;
  }

  private resyncAll(): void {
    for (const w of this.allWatchers()) {
      // Coalesced re-syncs need the lower bound of both.
      w.batch.since = w.batch.resync ? minMark(w.batch.since, this.handled) : this.handled;
      w.batch.resync = true;
      this.deliver(w);
    }
  }

  private deliver(w: WatcherState): void {
    if (!w.waiting || (w.batch.rows.size === 0 && !w.batch.resync)) return;
    const batch = w.batch;
    batch.settled = this.handled;
    w.batch = emptyBatch();
    const resolve = w.waiting;
    w.waiting = null;
    resolve({ value: batch, done: false });
  }

  private end(w: WatcherState): void {
    if (w.closed) return;
    w.closed = true;
    const [index, key] = w.taskId !== undefined ? [this.byTask, w.taskId] : w.owner !== undefined ? [this.byOwner, w.owner] : [null, ''];
    if (!index) this.watchers.delete(w);
    else {
      const set = index.get(key);
      set?.delete(w);
      if (set?.size === 0) index.delete(key);
    }
    w.waiting?.({ value: undefined, done: true });
    w.waiting = null;
  }
}
