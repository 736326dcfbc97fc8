// Progress of many polled tasks in few writes. Every poll that sees new
// progress hands it here; the writer collects them for up to `flushMs` (or
// `maxBatch` of them) and records the lot in one transaction
// (transitions.recordProgressBatch: one UPDATE, one INSERT of history events,
// one notification round trip). With thousands of jobs in flight that is a
// handful of statements per second instead of several per poll. At most one
// flush waits for the chain at a time, and it takes what is pending when its
// turn comes: when the database is slow, batches grow instead of queueing up.
// The runner's other many-row writes (lease renewal, hand-back, the batched
// transitions) run on the same serial chain (`exclusive`): two statements
// locking the same rows in different orders could deadlock each other. Urgent
// writes (lease renewals, which keep every held task ours, and the state
// changes a client waits for: submissions, completions, hand-backs) go before
// the progress writes waiting on the chain.
import type { Db } from '../db/client.js';
import type { Logger } from '../logger.js';
import { recordProgressBatch, type ProgressItem } from './transitions.js';

interface Pending extends ProgressItem {
  settle: (kept: boolean) => void;
}

export class ProgressWriter {
  private pending = new Map<string, Pending>();
  private timer?: NodeJS.Timeout;
  /** A flush is waiting on the chain: it will take what is pending when it runs. */
  private queued = false;
  private readonly urgent: Array<() => Promise<void>> = [];
  private readonly normal: Array<() => Promise<void>> = [];
  private busy = false;

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
      // One task has one write pending at most; a newer one wins.
      this.pending.get(item.taskId)?.settle(true);
      this.pending.set(item.taskId, { ...item, settle });
      this.flushSoon(this.pending.size >= this.maxBatch ? 0 : this.flushMs);
    });
  }

  /** Write what is pending now (shutdown). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.take(Number.POSITIVE_INFINITY);
    return this.exclusive(() => this.write(batch));
  }

  /** Run `fn` alone on the writer's serial chain: after the urgent writes waiting, and (unless `urgent`) after the others too. */
  exclusive<T>(fn: () => Promise<T>, opts: { urgent?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      (opts.urgent ? this.urgent : this.normal).push(() => Promise.resolve().then(fn).then(resolve, reject));
      this.pump();
    });
  }

  private pump(): void {
    if (this.busy) return;
    const next = this.urgent.shift() ?? this.normal.shift();
    if (!next) return;
    this.busy = true;
    void next().finally(() => {
      this.busy = false;
      this.pump();
    });
  }

  private take(max: number): Pending[] {
    const batch: Pending[] = [];
    for (const [id, p] of this.pending) {
      if (batch.length >= max) break;
      batch.push(p);
      this.pending.delete(id);
    }
    return batch;
  }

  private flushSoon(ms: number): void {
    if (this.queued || (this.timer && ms > 0)) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.queued = true;
      void this.exclusive(async () => {
        this.queued = false;
        await this.write(this.take(this.maxBatch));
        if (this.pending.size) this.flushSoon(this.pending.size >= this.maxBatch ? 0 : this.flushMs);
      });
    }, ms);
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
