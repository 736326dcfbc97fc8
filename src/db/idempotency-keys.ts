// Idempotency keys: a key names one request (by fingerprint) and its task for
// 24 hours; then it may be used again. Called inside the create transaction
// after `lockOwner`, so concurrent creates with one key see each other.
import { and, eq, gt, sql } from 'drizzle-orm';
import type { DbOrTx } from './client.js';
import { idempotencyKeys, tasks, type TaskRow } from './schema.js';

export const IDEMPOTENCY_TTL = sql`interval '24 hours'`;

/** The request a live key was used for, and its task; undefined when the key is unused, expired, or its task was deleted. */
export async function findIdempotencyKey(tx: DbOrTx, owner: string, key: string): Promise<{ fingerprint: string; task: TaskRow } | undefined> {
  const [row] = await tx
    .select({ fingerprint: idempotencyKeys.fingerprint, task: tasks })
    .from(idempotencyKeys)
    .innerJoin(tasks, eq(tasks.id, idempotencyKeys.taskId))
    .where(and(eq(idempotencyKeys.owner, owner), eq(idempotencyKeys.key, key), gt(idempotencyKeys.expiresAt, sql`now()`)));
  return row;
}

/** Record that `key` now names this request and task (replacing an expired use). */
export async function rememberIdempotencyKey(tx: DbOrTx, owner: string, key: string, fingerprint: string, taskId: string): Promise<void> {
  const expiresAt = sql`now() + ${IDEMPOTENCY_TTL}`;
  await tx
    .insert(idempotencyKeys)
    .values({ owner, key, fingerprint, taskId, expiresAt })
    .onConflictDoUpdate({ target: [idempotencyKeys.owner, idempotencyKeys.key], set: { fingerprint, taskId, expiresAt } });
}
