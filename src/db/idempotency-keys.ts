// Idempotency keys: a key names one request (by fingerprint) and its task for
// 24 hours; then it may be used again. Looked up inside the create transaction
// in the statement right after `lockOwner`'s, so concurrent creates with one
// key see each other.
import { and, eq, gt, sql, type SQL } from 'drizzle-orm';
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

/** Data-modifying CTE body (for the create statement): `key` now names this request and task (replacing an expired use). */
export function rememberIdempotencyKeySql(owner: string, key: string, fingerprint: string, taskId: string): SQL {
  return sql`insert into ${idempotencyKeys} (owner, key, fingerprint, task_id, expires_at)
    values (${owner}, ${key}, ${fingerprint}, ${taskId}::uuid, now() + ${IDEMPOTENCY_TTL})
    on conflict (owner, key) do update set fingerprint = excluded.fingerprint, task_id = excluded.task_id, expires_at = excluded.expires_at`;
}
