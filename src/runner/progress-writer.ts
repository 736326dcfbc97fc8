// Progress of many polled tasks in few writes. Every poll that sees new
// progress hands it here; the writer collects them for up to `flushMs` (or
// `maxBatch` of them) and records the lot in one transaction
// (transitions.recordProgressBatch: one UPDATE, one INSERT of history events,
// one notification round trip). With thousands of jobs in flight that is a
// handful of statements per second instead of several per poll.
// The runner's other many-row writes (lease renewal, hand-back) run on the
// same serial chain (`exclusive`): two statements locking the same rows in
// different orders could deadlock each other.
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import { recordProgressBatch, type ProgressItem } from './transitions.js';

interface Pending extends ProgressItem {
  settle: (kept: boolean) => void;
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
    return new Promise<boolean>((settle) => {
      // One task has one write pending at most (it waits for it before polling again); a newer one wins.
      this.pending.get(item.taskId)?.settle(true);
      this.pending.set(item.taskId, { ...item, settle });
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
    return this.exclusive(() => this.write(batch));
  }

  /** Run `fn` alone on the writer's serial chain (after the batches before it). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.flushing.then(fn);
    this.flushing = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private flushSoon(ms: number): void {
    if (this.timer && ms > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(), ms);
  }

  private async write(batch: Pending[]): Promise<void> {
    if (!batch.length) return;
    for (let attempt = 1; ; attempt++) {
      try {
        const kept = await recordProgressBatch(this.db, this.owner, batch);
        for (const p of batch) p.settle(kept.has(p.taskId));
        return;
      } catch (err) {
        if (attempt < 3) continue;
        // Progress is not worth failing a job over: the next poll records it again,
        // and a task that is no longer ours is found by the next heartbeat.
        this.log.warn({ err, tasks: batch.length }, 'recording progress failed; polling on');
        for (const p of batch) p.settle(true);
        return;
      }
    }
  }
}
