// Progress of many polled tasks in few writes. Every poll that sees new
// progress hands it here; the writer collects them for up to `flushMs` (or
// `maxBatch` of them) and records the lot in one transaction
// (transitions.recordProgressBatch: one UPDATE, one INSERT of history events,
// one notification round trip). With thousands of jobs in flight that is a
// handful of statements per second instead of several per poll.
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import { recordProgressBatch, type ProgressItem } from './transitions.js';

interface Pending extends ProgressItem {
  settle: (kept: boolean) => void;
  fail: (err: unknown) => void;
}

export class ProgressWriter {
  private pending = new Map<string, Pending>();
  private timer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly owner: string,
    private readonly log: Logger,
    private readonly flushMs = 100,
    private readonly maxBatch = 500,
  ) {}

  /** Resolves once written: true, or false when the task is no longer this runner's (cancelled, finished, taken over). */
  record(item: ProgressItem): Promise<boolean> {
    return new Promise<boolean>((settle, fail) => {
      // One task has one write pending at most (it waits for it before polling again); a newer one wins.
      this.pending.get(item.taskId)?.settle(true);
      this.pending.set(item.taskId, { ...item, settle, fail });
      if (this.pending.size >= this.maxBatch) this.flushSoon(0);
      else this.flushSoon(this.flushMs);
    });
  }

  /** Write what is pending now (shutdown). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.flushing.then(() => this.write(batch));
    return this.flushing;
  }

  private flushSoon(ms: number): void {
    if (this.timer && ms > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), ms);
  }

  private async write(batch: Pending[]): Promise<void> {
    if (!batch.length) return;
    try {
      const kept = await recordProgressBatch(this.db, this.owner, batch);
      for (const p of batch) p.settle(kept.has(p.taskId));
    } catch (err) {
      this.log.warn({ err, tasks: batch.length }, 'recording progress failed');
      for (const p of batch) p.fail(err);
    }
  }
}
