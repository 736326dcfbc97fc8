// The runner's per-task transitions that every job goes through (a submission
// attempt, the upstream's id, the completion) written for many tasks at once:
// a call that arrives while the previous write is in flight waits for it and
// goes out with the others as one transaction (db/group-commit.ts; a lone
// call goes out at once). Each transaction that notifies holds Postgres's
// notification lock until its commit is flushed, so one commit per task caps
// a runner at a few hundred transitions per second; one per batch does not.
// Batches run on the progress writer's serial chain (no two many-row writes of
// this runner lock the same rows in different orders). A batch that fails is
// written again one task at a time, so one bad member fails alone.
import type { Db } from '../db/client.js';
import { GroupCommit, type Outcome } from '../db/group-commit.js';
import {
  completeTasks,
  recordSubmitAttempts,
  recordSubmittedBatch,
  type CompletionItem,
  type SubmitAttemptItem,
  type SubmittedItem,
} from './transitions.js';

/** Tasks in one batched statement. */
const MAX_BATCH = 500;

type Exclusive = <T>(fn: () => Promise<T>) => Promise<T>;
type BatchWrite<T> = (db: Db, leaseOwner: string, items: readonly T[]) => Promise<Set<string>>;

export class TransitionBatches {
  private readonly attempts: GroupCommit<SubmitAttemptItem, boolean>;
  private readonly submitted: GroupCommit<SubmittedItem, boolean>;
  private readonly completions: GroupCommit<CompletionItem, boolean>;

  constructor(
    private readonly db: Db,
    private readonly owner: string,
    private readonly exclusive: Exclusive,
  ) {
    this.attempts = this.group(recordSubmitAttempts);
    this.submitted = this.group(recordSubmittedBatch);
    this.completions = this.group(completeTasks);
  }

  /** Resolves true once written, false when the task is no longer this runner's. */
  recordSubmitAttempt(item: SubmitAttemptItem): Promise<boolean> {
    return this.attempts.submit(item);
  }

  recordSubmitted(item: SubmittedItem): Promise<boolean> {
    return this.submitted.submit(item);
  }

  complete(item: CompletionItem): Promise<boolean> {
    return this.completions.submit(item);
  }

  private group<T extends { taskId: string }>(write: BatchWrite<T>): GroupCommit<T, boolean> {
    const once = (items: T[]) => this.exclusive(() => write(this.db, this.owner, items));
    return new GroupCommit<T, boolean>(async (items) => {
      try {
        const kept = await once(items);
        return items.map((i) => ({ ok: true, value: kept.has(i.taskId) }));
      } catch (error) {
        if (items.length === 1) throw error;
        return Promise.all(
          items.map((i): Promise<Outcome<boolean>> =>
            once([i]).then(
              (kept) => ({ ok: true, value: kept.has(i.taskId) }),
              (err: unknown) => ({ ok: false, error: err }),
            ),
          ),
        );
      }
    }, MAX_BATCH);
  }
}
