// One shared stream of changed task rows per process. Notifications carry
// only ids; the feed loads each batch of changed rows once (one query, one
// load at a time so rows never arrive out of order) and hands every
// subscriber the rows it watches. A busy subscriber gets the latest row per
// task, coalesced; `resync` says notifications may have been missed.
import type { TaskRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { TaskEvents } from './bus.js';

export interface FeedBatch {
  rows: Map<string, TaskRow>;
  resync: boolean;
}

export interface FeedWatcher extends AsyncIterableIterator<FeedBatch> {
  close(): void;
}

interface WatcherState {
  accept: (id: string) => boolean;
  batch: FeedBatch;
  waiting: ((r: IteratorResult<FeedBatch>) => void) | null;
  closed: boolean;
}

export class TaskFeed {
  private readonly watchers = new Set<WatcherState>();
  private readonly pending = new Set<string>();
  private flushing = false;
  private readonly unsubscribe: Array<() => void>;

  constructor(
    events: TaskEvents,
    private readonly load: (ids: string[]) => Promise<TaskRow[]>,
    private readonly log: Logger,
  ) {
    this.unsubscribe = [
      events.onTask((id) => {
        for (const w of this.watchers) {
          if (w.accept(id)) {
            this.pending.add(id);
            this.schedule();
            return;
          }
        }
      }),
      events.onResync(() => this.resyncAll()),
    ];
  }

  close(): void {
    this.unsubscribe.forEach((u) => u());
    for (const w of [...this.watchers]) this.end(w);
  }

  /** Rows of the tasks `accept` picks, from the moment of this call on. */
  watch(accept: (id: string) => boolean): FeedWatcher {
    const w: WatcherState = { accept, batch: { rows: new Map(), resync: false }, waiting: null, closed: false };
    this.watchers.add(w);
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
        let rows: TaskRow[];
        try {
          rows = await this.load(ids);
        } catch (err) {
          this.log.warn({ err }, 'could not load changed tasks; subscribers re-read');
          this.resyncAll();
          continue;
        }
        for (const w of this.watchers) {
          let hit = false;
          for (const r of rows) {
            if (w.accept(r.id)) {
              w.batch.rows.set(r.id, r);
              hit = true;
            }
          }
          if (hit) this.deliver(w);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private resyncAll(): void {
    for (const w of this.watchers) {
      w.batch.resync = true;
      this.deliver(w);
    }
  }

  private deliver(w: WatcherState): void {
    if (!w.waiting || (w.batch.rows.size === 0 && !w.batch.resync)) return;
    const batch = w.batch;
    w.batch = { rows: new Map(), resync: false };
    const resolve = w.waiting;
    w.waiting = null;
    resolve({ value: batch, done: false });
  }

  private end(w: WatcherState): void {
    if (w.closed) return;
    w.closed = true;
    this.watchers.delete(w);
    w.waiting?.({ value: undefined, done: true });
    w.waiting = null;
  }
}
