// The task state machine: the only code that moves a task between states.
// Every change writes the row and (when it matters to a user) an event in one
// transaction and notifies listeners at commit. Terminal states never change:
// each update is guarded by the allowed source states.
import { and, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import { execRows, jsonRecords, uuidArray, type Db, type Tx } from '../db/client.js';
import { taskEvents, tasks, type TaskResult, type TaskRow, type TaskStatus } from '../db/schema.js';
import { HELD_BY_BATCH, heldBatch } from '../db/held-by.js';
import { insertEvents, type NewEvent } from '../db/insert-events.js';
import { CHANGE_STAMP_SQL, changeStamp, PROGRESS_STAMP_SQL } from '../db/task-change.js';
import { announceWritten, changeNotices, publishTaskChanged } from '../events/bus.js';
import { countFinished } from '../metrics.js';
import type { Money } from '../money.js';

const ACTIVE: TaskStatus[] = ['QUEUED', 'PROCESSING'];

export interface TaskChange {
  status?: TaskStatus;
  progress?: number | null;
  providerId?: string;
  providerTaskId?: string | null;
  upstreamStatus?: string | null;
  mediaType?: 'VIDEO' | 'IMAGE';
  result?: TaskResult | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  attempts?: number;
  submittedAt?: Date;
  triedProviders?: string[];
  startedAt?: Date | SQL;
  completedAt?: Date | SQL;
  nextPollAt?: Date | SQL;
  leaseOwner?: string | null;
  leaseExpiresAt?: Date | SQL | null;
  costAmount?: number | null;
  costCurrency?: string | null;
}

export interface TransitionOptions {
  /** Allowed current states; defaults to the non-terminal ones. */
  from?: TaskStatus[];
  /** Only apply while this runner holds the lease. */
  leaseOwner?: string;
  /** Record a history event with this message; `false` records none. */
  event?: { message: string | null } | false;
  /** An extra guard on the row. */
  where?: SQL;
}

/** Apply a change inside an open transaction; null when the guard did not match. */
export async function transitionInTx(tx: Tx, taskId: string, change: TaskChange, opts: TransitionOptions = {}): Promise<TaskRow | null> {
  const where = [eq(tasks.id, taskId), inArray(tasks.status, opts.from ?? ACTIVE)];
  if (opts.leaseOwner) where.push(eq(tasks.leaseOwner, opts.leaseOwner));
  if (opts.where) where.push(opts.where);
  const [row] = await tx
    .update(tasks)
    .set({ ...change, ...changeStamp })
    .where(and(...where))
    .returning();
  if (!row) return null;
  if (opts.event) {
    await tx.insert(taskEvents).values({ taskId, status: row.status, progress: row.progress, message: opts.event.message });
  }
  // A finished or released task frees a slot: let idle runners claim at once.
  await publishTaskChanged(tx, [taskId], { wake: row.status !== 'PROCESSING' || change.leaseOwner === null });
  return row;
}

export async function transition(db: Db, taskId: string, change: TaskChange, opts: TransitionOptions = {}): Promise<TaskRow | null> {
  const row = await db.transaction((tx) => transitionInTx(tx, taskId, change, opts));
  // Committed: a finish counts (reelay_tasks_finished_total) in the process that made it.
  if (row && change.status) countFinished(row);
  return row;
}

/** The upstream accepted the task: store its id before anything else happens. */
export function recordSubmitted(db: Db, taskId: string, leaseOwner: string, providerId: string, providerTaskId: string): Promise<TaskRow | null> {
  return transition(db, taskId, { providerTaskId, providerId }, { from: ['PROCESSING'], leaseOwner, event: { message: `accepted by ${providerId} as ${providerTaskId}` } });
}

/**
 * Count a submission attempt and note when it is sent, before sending it: a
 * crash mid-request is then detectable, and the lookup knows since when to look.
 */
export function recordSubmitAttempt(db: Db, taskId: string, leaseOwner: string, attempts: number): Promise<TaskRow | null> {
  return transition(db, taskId, { attempts, submittedAt: new Date() }, { from: ['PROCESSING'], leaseOwner, event: false });
}

export function recordProgress(
  db: Db,
  taskId: string,
  leaseOwner: string,
  change: { progress: number | null; upstreamStatus?: string | null },
  message: string | null | false,
): Promise<TaskRow | null> {
  return transition(db, taskId, change, { from: ['PROCESSING'], leaseOwner, event: message === false ? false : { message } });
}

export interface ProgressItem {
  taskId: string;
  progress: number | null;
  upstreamStatus: string | null;
  /** A history event with this message; `false` records none. */
  message: string | null | false;
  /** When the task's next poll is due: a runner that takes the task over resumes polling then. */
  nextPollAt: Date;
}

/**
 * `recordProgress` for many tasks held by one runner, in one statement (no
 * transaction around it: one round trip): the UPDATE, the INSERT of the
 * history events and the notifications, which say that only progress changed
 * (bus.ts ChangeKind.progress). Returns the ids it changed; the others are no
 * longer this runner's.
 */
export async function recordProgressBatch(db: Db, leaseOwner: string, items: readonly ProgressItem[]): Promise<Set<string>> {
  if (!items.length) return new Set();
  const kept = idsOf(await execRows<HeldRow>(db, progressBatchSql(db, leaseOwner, items)));
  await announceWritten(db, [...kept], { progress: true });
  return kept;
}

/** The statement of `recordProgressBatch` (exported for the test of its plan). */
export function progressBatchSql(db: Db, leaseOwner: string, items: readonly ProgressItem[]): SQL {
  // One JSON parameter: the statement's text is the same for every batch size (prepared once,
  // planned once) and the driver binds one value instead of several per task. No indexed
  // column changes: a HOT update (see PROGRESS_STAMP_SQL).
  const json = JSON.stringify(
    items.map((i) => ({ id: i.taskId, progress: i.progress, upstream_status: i.upstreamStatus, next_poll_at: i.nextPollAt.toISOString(), event: i.message !== false, message: i.message === false ? null : i.message })),
  );
  return sql`with v as (
      select * from json_to_recordset(${json}::json) as v (id uuid, progress float8, upstream_status text, next_poll_at timestamptz, event boolean, message text)
    ), u as (
      update ${tasks} t set progress = v.progress, upstream_status = v.upstream_status, next_poll_at = v.next_poll_at, ${PROGRESS_STAMP_SQL}
      from ${heldBatch(sql`v`, leaseOwner)}
      where ${HELD_BY_BATCH}
      returning t.id, t.progress
    ), e as (
      insert into ${taskEvents} (task_id, status, progress, message)
      select u.id, 'PROCESSING'::task_status, u.progress, v.message from u join v on v.id = u.id where v.event
    )
    select u.id from u, lateral ${changeNotices(db, sql`u.id`, { progress: true })} as n`;
}

/** What a many-row write returns of each row it changed. */
interface HeldRow {
  id: string;
  progress: number | null;
}

/** A finished row: enough to count the finish (reelay_tasks_finished_total, task duration). */
interface FinishedRow extends HeldRow {
  status: TaskRow['status'];
  providerId: string;
  createdAt: Date | string;
  startedAt: Date | string | null;
  completedAt: Date | string | null;
}

const idsOf = (rows: readonly HeldRow[]) => new Set(rows.map((r) => r.id));
const HELD = sql`t.id, t.progress`;
const FINISHED = sql`t.id, t.progress, t.status, t.provider_id as "providerId", t.created_at as "createdAt", t.started_at as "startedAt", t.completed_at as "completedAt"`;

/** One statement for many held tasks: `update tasks t set … from <source> v (id, …) where` the lease still holds. */
// Its callers change no status (submission attempts, accepted ids): no slot frees, nobody is woken.
async function updateHeld(
  db: Db,
  leaseOwner: string,
  items: readonly { taskId: string }[],
  /** The rows to apply, named `v`, with an `id` column. */
  source: SQL,
  set: SQL,
  /** History events of the rows changed (given each one's progress after the change). */
  events: (kept: Map<string, number | null>) => NewEvent[],
): Promise<HeldRow[]> {
  if (!items.length) return [];
  return db.transaction(async (tx) => {
    const rows = await execRows<HeldRow>(
      tx,
      sql`update ${tasks} t set ${set}, ${CHANGE_STAMP_SQL}
          from ${heldBatch(source, leaseOwner)}
          where ${HELD_BY_BATCH}
          returning ${HELD}`,
    );
    const kept = new Map(rows.map((r) => [r.id, r.progress]));
    const history = events(kept);
    if (history.length) await insertEvents(tx, history);
    await publishTaskChanged(tx, [...kept.keys()]);
    return rows;
  });
}

export interface SubmitAttemptItem {
  taskId: string;
  attempts: number;
  /** When the attempt is about to be sent (reelay's clock). */
  submittedAt: Date;
}

/** `recordSubmitAttempt` for many held tasks in one transaction; returns the ids still held. */
export async function recordSubmitAttempts(db: Db, leaseOwner: string, items: readonly SubmitAttemptItem[]): Promise<Set<string>> {
  return idsOf(await updateHeld(
    db,
    leaseOwner,
    items,
    jsonRecords(items.map((i) => ({ id: i.taskId, attempts: i.attempts, submitted_at: i.submittedAt.toISOString() })), 'v', 'id uuid, attempts int, submitted_at timestamptz'),
    sql`attempts = v.attempts, submitted_at = v.submitted_at`,
    () => [],
  ));
}

export interface SubmittedItem {
  taskId: string;
  providerId: string;
  providerTaskId: string;
}

/** `recordSubmitted` for many held tasks in one transaction; returns the ids still held. */
export async function recordSubmittedBatch(db: Db, leaseOwner: string, items: readonly SubmittedItem[]): Promise<Set<string>> {
  return idsOf(await updateHeld(
    db,
    leaseOwner,
    items,
    jsonRecords(items.map((i) => ({ id: i.taskId, provider_id: i.providerId, provider_task_id: i.providerTaskId })), 'v', 'id uuid, provider_id text, provider_task_id text'),
    sql`provider_id = v.provider_id, provider_task_id = v.provider_task_id`,
    (kept) => items.filter((i) => kept.has(i.taskId)).map((i) => ({ taskId: i.taskId, status: 'PROCESSING' as const, progress: kept.get(i.taskId) ?? null, message: `accepted by ${i.providerId} as ${i.providerTaskId}` })),
  ));
}

export interface CompletionItem {
  taskId: string;
  result: TaskResult;
  mediaType: 'VIDEO' | 'IMAGE';
  upstreamStatus: string | null;
  /** The task's price (src/tasks/price.ts), recorded with it; null: not priced. */
  cost: Money | null;
}

/**
 * Complete many held tasks (result, cost, COMPLETED) in one statement, like
 * `recordProgressBatch`: the UPDATE, the history events and the notifications
 * (with a wake: each finish frees a slot) in one round trip, the batch as one
 * JSON parameter. The statement's text is the same for every batch size, so it
 * is prepared and planned once; a VALUES list of six parameters per task was a
 * new statement (parsed and planned anew) for every batch size, and with it a
 * transaction of five round trips. Returns the ids it completed.
 */
export async function completeTasks(db: Db, leaseOwner: string, items: readonly CompletionItem[]): Promise<Set<string>> {
  if (!items.length) return new Set();
  const rows = await execRows<FinishedRow>(db, completeTasksSql(db, leaseOwner, items));
  await announceWritten(db, rows.map((r) => r.id), { wake: true });
  // Committed: each finish counts (reelay_tasks_finished_total) in the process that made it.
  for (const r of rows) countFinished({ ...r, createdAt: new Date(r.createdAt), startedAt: r.startedAt ? new Date(r.startedAt) : null, completedAt: r.completedAt ? new Date(r.completedAt) : null });
  return idsOf(rows);
}

/** The statement of `completeTasks` (exported for the tests of its text and plan). */
export function completeTasksSql(db: Db, leaseOwner: string, items: readonly CompletionItem[]): SQL {
  const json = JSON.stringify(
    items.map((i) => ({ id: i.taskId, result: i.result, media_type: i.mediaType, upstream_status: i.upstreamStatus, cost_amount: i.cost?.amount ?? null, cost_currency: i.cost?.currency ?? null })),
  );
  return sql`with v as (
      select * from json_to_recordset(${json}::json) as v (id uuid, result jsonb, media_type text, upstream_status text, cost_amount float8, cost_currency text)
    ), u as (
      update ${tasks} t set status = 'COMPLETED', progress = 1, result = v.result, media_type = v.media_type, upstream_status = v.upstream_status,
        cost_amount = v.cost_amount, cost_currency = v.cost_currency,
        completed_at = now(), lease_owner = null, lease_expires_at = null, ${CHANGE_STAMP_SQL}
      from ${heldBatch(sql`v`, leaseOwner)}
      where ${HELD_BY_BATCH}
      returning ${FINISHED}
    ), e as (
      insert into ${taskEvents} (task_id, status, progress, message)
      select u.id, 'COMPLETED'::task_status, 1, 'completed' from u
    )
    select u.* from u, lateral ${changeNotices(db, sql`u.id`, { wake: true })} as n`;
}

/** Fail a task; `leaseOwner` omitted means any holder (used by validation before claim). */
export function failTask(db: Db, taskId: string, code: string, message: string, leaseOwner?: string, upstreamStatus?: string | null): Promise<TaskRow | null> {
  return transition(
    db,
    taskId,
    { status: 'FAILED', errorCode: code, errorMessage: message, upstreamStatus, completedAt: sql`now()`, leaseOwner: null, leaseExpiresAt: null },
    { leaseOwner, event: { message: `${code}: ${message}` } },
  );
}

/**
 * Cancel a task for its owner: a QUEUED task at once, a PROCESSING one locally
 * at once too (the runner holding it sees the change and stops its upstream work).
 */
export function cancelTaskRow(db: Db, taskId: string, message = 'cancelled by client'): Promise<TaskRow | null> {
  return transition(
    db,
    taskId,
    { status: 'CANCELLED', completedAt: sql`now()`, leaseOwner: null, leaseExpiresAt: null },
    { event: { message } },
  );
}

/** Upstream itself reported the task cancelled. */
export function markCancelledUpstream(db: Db, taskId: string, leaseOwner: string, message: string | null): Promise<TaskRow | null> {
  return transition(
    db,
    taskId,
    { status: 'CANCELLED', completedAt: sql`now()`, leaseOwner: null, leaseExpiresAt: null },
    { from: ['PROCESSING'], leaseOwner, event: { message: message ?? 'cancelled upstream' } },
  );
}

/**
 * Fallback: hand a task that never reached its upstream to another provider.
 * It queues again there; once an upstream task exists this never happens.
 */
export function moveToProvider(db: Db, taskId: string, leaseOwner: string, providerId: string, triedProviders: string[], message: string): Promise<TaskRow | null> {
  return transition(
    db,
    taskId,
    {
      status: 'QUEUED',
      providerId,
      triedProviders,
      attempts: 0,
      progress: null,
      upstreamStatus: null,
      startedAt: sql`null`,
      leaseOwner: null,
      leaseExpiresAt: null,
      nextPollAt: sql`now()`,
    },
    { from: ['PROCESSING'], leaseOwner, where: isNull(tasks.providerTaskId), event: { message } },
  );
}

/** Give a task back (shutdown): another runner resumes it at `nextPollAt`. */
export function releaseTask(db: Db, taskId: string, leaseOwner: string, nextPollAt: Date = new Date()): Promise<TaskRow | null> {
  return transition(db, taskId, { leaseOwner: null, leaseExpiresAt: null, nextPollAt }, { leaseOwner, event: false });
}

/** Give many tasks back at once (a runner shutting down); they are due again at once. */
export async function releaseTasks(db: Db, leaseOwner: string, ids: readonly string[]): Promise<string[]> {
  if (!ids.length) return [];
  return db.transaction(async (tx) => {
    const rows = await tx
      .update(tasks)
      .set({ leaseOwner: null, leaseExpiresAt: null, nextPollAt: sql`now()`, ...changeStamp })
      .where(and(sql`${tasks.id} = any(${uuidArray(ids)})`, eq(tasks.leaseOwner, leaseOwner), inArray(tasks.status, ACTIVE)))
      .returning({ id: tasks.id });
    const released = rows.map((r) => r.id);
    if (released.length) {
      await publishTaskChanged(tx, released, { wake: true });
    }
    return released;
  });
}
