// Insert a QUEUED task with its first event and its change notification in one
// statement. Without per-key limits or an idempotency key that statement is
// the whole create (one round trip, no transaction); otherwise it runs in a
// transaction after the owner's lock and the checks, which go out together.
import { sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { Db, DbOrTx } from './client.js';
import { anyLimit, checkCreateLimits, lockOwner, recordCreateCtes, type KeyLimits } from './check-create-limits.js';
import { findIdempotencyKey, rememberIdempotencyKeySql } from './idempotency-keys.js';
import { taskEvents, tasks, type NewTaskRow, type TaskRow } from './schema.js';
import { newTaskId } from './task-id.js';
import { announceWritten, changeNotices } from '../events/bus.js';
import { IdempotencyConflictError } from '../errors.js';

export type NewTask = Omit<NewTaskRow, 'id' | 'status' | 'createdAt' | 'updatedAt' | 'idempotencyKey'> & { id?: string };

export interface CreateOptions {
  /** The request's idempotency key and the fingerprint of its normalized input. */
  idempotency?: { key: string; fingerprint: string };
  /** The limits of the creating key (its own, or the defaults); omitted: none (internal callers). */
  limits?: KeyLimits;
}

/**
 * Create the task, or return the one an earlier identical request under the same
 * idempotency key created (`created: false`; limits do not apply to such a replay:
 * it creates nothing). Throws IdempotencyConflictError for a different request
 * under a live key, RateLimitedError over a limit.
 */
export async function createTask(db: Db, values: NewTask, opts: CreateOptions = {}): Promise<{ task: TaskRow; created: boolean }> {
  const { idempotency } = opts;
  const limits = anyLimit(opts.limits) ? opts.limits : undefined;
  const row = { ...values, id: values.id ?? newTaskId(), idempotencyKey: idempotency?.key ?? null, status: 'QUEUED' as const };
  // Nothing to check: no lock, no transaction, one statement.
  if (!idempotency && !limits) {
    const task = await insertPlainTask(db, row);
    await announceWritten(db, [task.id], { wake: true });
    return { task, created: true };
  }
  return db.transaction(async (tx) => {
    // Sent together (pipelined on the transaction's connection); the checks'
    // snapshots are taken after the lock is granted, so they see every create
    // of this owner that held it before.
    const [, prior, refused] = await Promise.all([
      lockOwner(tx, row.owner),
      idempotency ? findIdempotencyKey(tx, row.owner, idempotency.key) : undefined,
      // Held back: a replay is answered even over the limits.
      limits ? checkCreateLimits(tx, row.owner, limits).then(() => undefined, (err: unknown) => err) : undefined,
    ]);
    if (prior) {
      if (prior.fingerprint === idempotency!.fingerprint) return { task: prior.task, created: false };
      throw new IdempotencyConflictError(`idempotencyKey "${idempotency!.key}" was used for a different request within the last 24 hours`);
    }
    if (refused) throw refused;
    const extra = [
      ...(idempotency ? [rememberIdempotencyKeySql(row.owner, idempotency.key, idempotency.fingerprint, row.id)] : []),
      ...(limits && limits.perMinute > 0 ? recordCreateCtes(row.owner) : []),
    ];
    const task = await insertTask(tx, row, extra);
    await announceWritten(tx, [task.id], { wake: true });
    return { task, created: true };
  });
}

/**
 * The first event, with the change notification in its row source (evaluated
 * once) and the commit made asynchronous. A transaction that notifies holds a
 * database-wide lock from its commit until the commit is on disk, so notifying
 * creates commit one at a time, each waiting for its own WAL flush (measured on
 * 2 cores: ~250 creates/s, against ~1,500 plain inserts/s). Without that wait
 * (synchronous_commit off for this transaction only) the lock is held for
 * microseconds and the notification keeps its place in commit order. The price:
 * a Postgres crash (not a reelay crash) may lose creates acknowledged in the
 * last few hundred milliseconds; a later write that depends on one (a claim,
 * which commits synchronously) flushes it first.
 */
function firstEvent(db: DbOrTx, id: string | Placeholder, message: string | Placeholder): SQL {
  return sql`insert into ${taskEvents} (task_id, status, message)
    select ${id}::uuid, 'QUEUED'::task_status, ${message}
    from ${changeNotices(db, id, { wake: true })} as n, (select set_config('synchronous_commit', 'off', true)) as c`;
}

/** The columns a create request sets; any other column of a new task takes its default. */
const PLAIN_COLUMNS = new Set<string>(['id', 'owner', 'providerId', 'model', 'prompt', 'negativePrompt', 'params', 'inputImage', 'idempotencyKey', 'status']);

const p = (name: string) => sql.placeholder(name);
/** The plain create statement, built once per database (building it costs more CPU than running it). */
const plainInserts = new WeakMap<Db, ReturnType<typeof preparePlainInsert>>();
function preparePlainInsert(db: Db) {
  return db
    .with(db.$with('w0', {}).as(firstEvent(db, p('id'), p('message'))))
    .insert(tasks)
    .values({
      id: p('id'),
      owner: p('owner'),
      providerId: p('providerId'),
      model: p('model'),
      prompt: p('prompt'),
      negativePrompt: p('negativePrompt'),
      // Raw, so that null stays SQL NULL (a jsonb placeholder would encode it as JSON null).
      params: sql`${p('params')}::jsonb`,
      inputImage: sql`${p('inputImage')}::jsonb`,
      status: 'QUEUED',
    })
    .returning()
    .prepare('create_task');
}

/** A create without checks: the prepared statement when the row sets only the usual columns. */
async function insertPlainTask(db: Db, row: NewTaskRow & { id: string }): Promise<TaskRow> {
  if (Object.keys(row).some((k) => !PLAIN_COLUMNS.has(k))) return insertTask(db, row, []);
  let prepared = plainInserts.get(db);
  if (!prepared) plainInserts.set(db, (prepared = preparePlainInsert(db)));
  const [task] = await prepared.execute({
    id: row.id,
    owner: row.owner,
    providerId: row.providerId,
    model: row.model ?? null,
    prompt: row.prompt,
    negativePrompt: row.negativePrompt ?? null,
    params: JSON.stringify(row.params ?? {}),
    inputImage: row.inputImage == null ? null : JSON.stringify(row.inputImage),
    message: `queued for ${row.providerId}`,
  });
  return task!;
}

/** The task row, its first event, the change notification and `extra` data-modifying CTEs: one statement. */
async function insertTask(db: DbOrTx, row: NewTaskRow & { id: string }, extra: SQL[]): Promise<TaskRow> {
  const bodies = [
    firstEvent(db, row.id, `queued for ${row.providerId}`),
    ...extra,
  ];
  const ctes = bodies.map((body, i) => db.$with(`w${i}`, {}).as(body));
  const [task] = await db
    .with(...ctes)
    .insert(tasks)
    .values(row)
    .returning();
  return task!;
}
