// Insert a QUEUED task with its first event, in one transaction that also
// honours the request's idempotency key and the owner's per-key limits.
import type { Db } from './client.js';
import { checkCreateLimits, lockOwner, recordCreate, type KeyLimits } from './check-create-limits.js';
import { findIdempotencyKey, rememberIdempotencyKey } from './idempotency-keys.js';
import { taskEvents, tasks, type NewTaskRow, type TaskRow } from './schema.js';
import { publishTaskChanged } from '../events/bus.js';
import { IdempotencyConflictError } from '../errors.js';

export type NewTask = Omit<NewTaskRow, 'id' | 'status' | 'createdAt' | 'updatedAt' | 'idempotencyKey'> & { id?: string };

export interface CreateOptions {
  /** The request's idempotency key and the fingerprint of its normalized input. */
  idempotency?: { key: string; fingerprint: string };
  /** The default per-key limits (a stored key may override them); omitted: none (internal callers). */
  limits?: KeyLimits;
}

/**
 * Create the task, or return the one an earlier identical request under the same
 * idempotency key created (`created: false`; limits do not apply to such a replay:
 * it creates nothing). Throws IdempotencyConflictError for a different request
 * under a live key, RateLimitedError over a limit.
 */
export async function createTask(db: Db, values: NewTask, opts: CreateOptions = {}): Promise<{ task: TaskRow; created: boolean }> {
  const { idempotency, limits } = opts;
  return db.transaction(async (tx) => {
    if (idempotency || limits) await lockOwner(tx, values.owner);
    if (idempotency) {
      const prior = await findIdempotencyKey(tx, values.owner, idempotency.key);
      if (prior && prior.fingerprint === idempotency.fingerprint) return { task: prior.task, created: false };
      if (prior) throw new IdempotencyConflictError(`idempotencyKey "${idempotency.key}" was used for a different request within the last 24 hours`);
    }
    const effective = limits ? await checkCreateLimits(tx, values.owner, limits) : undefined;
    const [task] = await tx
      .insert(tasks)
      .values({ ...values, idempotencyKey: idempotency?.key ?? null, status: 'QUEUED' })
      .returning();
    await tx.insert(taskEvents).values({ taskId: task!.id, status: 'QUEUED', progress: null, message: `queued for ${task!.providerId}` });
    if (idempotency) await rememberIdempotencyKey(tx, values.owner, idempotency.key, idempotency.fingerprint, task!.id);
    if (effective && effective.perMinute > 0) await recordCreate(tx, values.owner);
    await publishTaskChanged(tx, [task!.id], { wake: true });
    return { task: task!, created: true };
  });
}
