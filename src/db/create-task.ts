// Insert a QUEUED task with its first event and its change notification in one
// statement. Without per-key limits or an idempotency key that statement is
// the whole create (one round trip, no transaction), and concurrent such
// creates are group-committed (src/db/group-commit.ts): those that arrive
// while one is in flight go out together as one multi-row statement. With
// limits or a key the statement runs in a transaction after the owner's lock
// and the checks, which go out together.
import { eq, sql, type Placeholder, type SQL } from 'drizzle-orm';
import type { Db, DbOrTx } from './client.js';
import { anyLimit, checkCreateLimits, lockOwner, recordCreateCtes, type KeyLimits } from './check-create-limits.js';
import { GroupCommit, type Outcome } from './group-commit.js';
import { findIdempotencyKey, rememberIdempotencyKeySql } from './idempotency-keys.js';
import { insertTaskBatch, type PlainTaskRow } from './insert-task-batch.js';
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
 * once). The commit is an ordinary, durable one: a create answered is on disk.
 * (A transaction that notifies holds a database-wide lock from its commit until
 * the commit is flushed, so notifying commits queue behind each other; plain
 * creates share commits instead, see the group commit below.)
 */
function firstEvent(db: DbOrTx, id: string | Placeholder, message: string | Placeholder): SQL {
  return sql`insert into ${taskEvents} (task_id, status, message)
    select ${id}::uuid, 'QUEUED'::task_status, ${message}
    from ${changeNotices(db, id, { wake: true })} as n`;
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

/** Creates in one statement at most; a larger burst goes out in several. */
export const MAX_GROUP = 100;
/**
 * Group statements in flight at once: while one waits for its commit's flush
 * (notifying commits flush one after another), the next is already executed
 * and queued behind it. Measured on 2 cores, 10 connections: 2 lanes ~0.85×
 * the bare server, 1 lane ~0.7× (noisy, loaded machine).
 */
const LANES = 2;
const groups = new WeakMap<Db, GroupCommit<PlainTaskRow, TaskRow>>();

/**
 * A create without checks. One that sets only the usual columns joins the
 * group commit: with a lane free it is sent at once (alone: the single-row
 * prepared statement); otherwise it waits for a statement in flight to end and
 * goes out with the others that arrived meanwhile.
 */
async function insertPlainTask(db: Db, row: NewTaskRow & { id: string }): Promise<TaskRow> {
  if (Object.keys(row).some((k) => !PLAIN_COLUMNS.has(k))) return insertTask(db, row, []);
  let group = groups.get(db);
  if (!group) groups.set(db, (group = new GroupCommit((rows) => insertGroup(db, rows), MAX_GROUP, LANES)));
  return group.submit(row);
}

/**
 * One statement for the whole group. If it fails, each member is tried again
 * alone, so that a bad row fails only its own create (with its own error).
 */
async function insertGroup(db: Db, rows: PlainTaskRow[]): Promise<Array<Outcome<TaskRow>>> {
  if (rows.length > 1) {
    const inserted = await insertTaskBatch(db, rows).catch(() => undefined);
    if (inserted) {
      const byId = new Map(inserted.map((t) => [t.id, t]));
      return rows.map((r) => {
        const task = byId.get(r.id);
        return task ? { ok: true, value: task } : { ok: false, error: new Error(`task ${r.id} was not returned by its insert`) };
      });
    }
  }
  const settled = await Promise.allSettled(rows.map((r) => insertOne(db, r).catch((err: unknown) => ownEarlierInsert(db, r, err))));
  return settled.map((s) => (s.status === 'fulfilled' ? { ok: true, value: s.value } : { ok: false, error: s.reason as unknown }));
}

/**
 * A retried member whose id already exists: the group statement did commit
 * (e.g. the connection dropped after its commit, before the answer). Ids are
 * made by reelay, so a row with the same id, owner, provider and prompt is
 * this very create; anything else is the error it seems.
 */
async function ownEarlierInsert(db: Db, row: PlainTaskRow, err: unknown): Promise<TaskRow> {
  if ((err as { code?: string } | null)?.code !== '23505' && (err as { cause?: { code?: string } } | null)?.cause?.code !== '23505') throw err;
  const [existing] = await db.select().from(tasks).where(eq(tasks.id, row.id));
  if (existing && existing.owner === row.owner && existing.providerId === row.providerId && existing.prompt === row.prompt) return existing;
  throw err;
}

/** The single-row prepared statement. */
async function insertOne(db: Db, row: PlainTaskRow): Promise<TaskRow> {
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
