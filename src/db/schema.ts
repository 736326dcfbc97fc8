// Drizzle schema: the single source of truth for the tables; migrations in
// drizzle/ are generated from it by drizzle-kit.
import { sql } from 'drizzle-orm';
import { bigint, bigserial, boolean, doublePrecision, index, integer, jsonb, pgEnum, pgTable, primaryKey, serial, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const TASK_STATUSES = ['QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export const taskStatus = pgEnum('task_status', TASK_STATUSES);

// Millisecond precision so that keyset cursors round-trip exactly through JS Dates.
const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

export interface TaskParams {
  durationSeconds?: number | null;
  width?: number | null;
  height?: number | null;
  aspectRatio?: string | null;
  seed?: number | null;
}

export interface TaskInputImage {
  /** Where the image came from: a URL the client gave, or an upload / base64 stored by reelay. */
  kind: 'url' | 'file';
  url?: string;
  /** Path relative to the files directory, for stored images. */
  file?: string;
  contentType?: string;
  sizeBytes?: number;
  /** SHA-256 (hex) of a stored image's bytes: part of the idempotency fingerprint. */
  sha256?: string;
}

export interface TaskResult {
  /** Path under /files/ served by reelay. */
  file: string;
  upstreamUrl: string | null;
  contentType: string | null;
  sizeBytes: number;
  durationSeconds: number | null;
  width: number | null;
  height: number | null;
  /** Set by file retention with tasks.file_expired_at: the file is gone, the rest still describes it. */
  fileExpired?: boolean;
}

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    owner: text('owner').notNull(),
    providerId: text('provider_id').notNull(),
    model: text('model'),
    prompt: text('prompt').notNull(),
    negativePrompt: text('negative_prompt'),
    params: jsonb('params').$type<TaskParams>().notNull().default({}),
    inputImage: jsonb('input_image').$type<TaskInputImage>(),
    status: taskStatus('status').notNull().default('QUEUED'),
    progress: doublePrecision('progress'),
    providerTaskId: text('provider_task_id'),
    upstreamStatus: text('upstream_status'),
    mediaType: text('media_type').$type<'VIDEO' | 'IMAGE'>().notNull().default('VIDEO'),
    result: jsonb('result').$type<TaskResult>(),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    attempts: integer('attempts').notNull().default(0),
    /** Providers this task already moved away from (fallback), in order. */
    triedProviders: text('tried_providers').array().notNull().default(sql`'{}'::text[]`),
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: ts('lease_expires_at'),
    nextPollAt: ts('next_poll_at').notNull().defaultNow(),
    /** The key the task was created under (informational; idempotency_keys decides). */
    idempotencyKey: text('idempotency_key'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    /**
     * Bumped by every change that notifies (see src/db/task-change.ts). Rows of
     * one task are ordered by it: updated_at is the transaction's start time, so
     * a change committed later can carry an older updated_at.
     */
    version: integer('version').notNull().default(1),
    /**
     * The 64-bit id of the transaction that last changed the row. A change whose
     * notification was missed has a change_xid at or above the snapshot xmin of
     * any change notified before it, which makes "what changed since" exact
     * (see src/db/changed-tasks.ts).
     */
    changeXid: bigint('change_xid', { mode: 'number' }).notNull().default(sql`(pg_current_xact_id()::text::bigint)`),
    startedAt: ts('started_at'),
    /** When the latest submission attempt was about to be sent (reelay's clock): a lost one is looked up among upstream tasks created since. */
    submittedAt: ts('submitted_at'),
    completedAt: ts('completed_at'),
    /** When retention (REELAY_FILE_RETENTION_DAYS) removed the task's stored files; the row stays. */
    fileExpiredAt: ts('file_expired_at'),
    /** The FAILED or CANCELLED task this one retries (retryTask); no foreign key: deleting the original leaves the retry. */
    retryOf: uuid('retry_of'),
    /** Where the task's webhook deliveries go (its own, or its key's default endpoint); null: no webhook. */
    webhookUrl: text('webhook_url'),
    /**
     * The WebhookEvent names the receiver wants (STARTED, PROGRESS, COMPLETED, FAILED, CANCELLED);
     * null for a task without a webhook: the outbox trigger (drizzle/0007_webhooks.sql) fires only when it is set.
     */
    webhookEvents: text('webhook_events').array(),
    /** The origin (scheme://host[:port]) of the request that created a task with a webhook: absolute URLs in its deliveries without REELAY_PUBLIC_URL. */
    requestOrigin: text('request_origin'),
    /** What the task cost, priced from the provider's `pricing` when it completed (src/tasks/price.ts); null: not priced. */
    costAmount: doublePrecision('cost_amount'),
    costCurrency: text('cost_currency'),
  },
  (t) => [
    index('tasks_owner_created').on(t.owner, t.createdAt, t.id),
    index('tasks_created').on(t.createdAt, t.id),
    index('tasks_owner_changed').on(t.owner, t.changeXid, t.id),
    // Unfinished tasks by provider: the claim's slot count and its search for lapsed leases. Not
    // next_poll_at (or any column a progress write changes): a progress write then changes no
    // indexed column and is a HOT update, which writes no index at all. Built online (it replaced
    // tasks_due (status, next_poll_at), dropped once this one is valid; see online-indexes.ts).
    index('tasks_active').on(t.status, t.providerId).where(sql`status in ('QUEUED', 'PROCESSING')`),
    // Per-key limits: active tasks of an owner (the per-minute window is in recent_creates).
    index('tasks_owner_active').on(t.owner, t.status).where(sql`status in ('QUEUED', 'PROCESSING')`),
    // Fair queue: owners of a provider's queue, each owner's queued tasks in creation order...
    index('tasks_queue_owner').on(t.providerId, t.owner, t.createdAt, t.id).where(sql`status = 'QUEUED'`),
    // ...and when each owner was last served there (round-robin turn).
    index('tasks_owner_started').on(t.providerId, t.owner, t.startedAt),
    // List filters, newest first, and bounded counts over a time window. Built
    // with CREATE INDEX CONCURRENTLY after the migrations (src/db/online-indexes.ts),
    // never by a migration: a migration would lock writes for the whole build.
    index('tasks_owner_status_created').on(t.owner, t.status, t.createdAt, t.id),
    index('tasks_owner_provider_created').on(t.owner, t.providerId, t.createdAt, t.id),
    index('tasks_owner_model_created').on(t.owner, t.model, t.createdAt, t.id),
    // `search` (a substring of the prompt); only where the pg_trgm extension can be had.
    index('tasks_prompt_trgm').using('gin', t.prompt.op('gin_trgm_ops')),
    // Retention sweeps (src/db/delete-expired-tasks.ts, expire-result-files.ts): finished tasks
    // oldest first, and those of them that still have stored files.
    index('tasks_finished_completed').on(t.completedAt).where(sql`status in ('COMPLETED', 'FAILED', 'CANCELLED')`),
    index('tasks_files_completed')
      .on(t.completedAt)
      .where(sql`status in ('COMPLETED', 'FAILED', 'CANCELLED') and file_expired_at is null and (result is not null or input_image->>'kind' = 'file')`),
    // Estimated time left (src/db/recent-run-times.ts, list-running-tasks.ts): the latest
    // completions of a provider and model, and the tasks running at a provider.
    // The model through coalesce: an `is null` condition cannot give the index's order, an equality can.
    index('tasks_completed_runs').on(t.providerId, sql`coalesce(${t.model}, '')`, t.completedAt.desc()).where(sql`status = 'COMPLETED'`),
    index('tasks_running').on(t.providerId, t.startedAt).where(sql`status = 'PROCESSING'`),
  ],
);

export const taskEvents = pgTable(
  'task_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    taskId: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    status: taskStatus('status').notNull(),
    progress: doublePrecision('progress'),
    message: text('message'),
    at: ts('at').notNull().defaultNow(),
  },
  (t) => [index('task_events_task').on(t.taskId, t.id)],
);

/**
 * Tasks per owner × provider × status, as rolled up from task_count_deltas
 * (see src/db/task-counts.ts). `timed` and `durationMs` cover COMPLETED tasks
 * with a duration (completed_at - coalesce(started_at, created_at)), for the
 * mean in `stats`.
 */
export const taskCounts = pgTable(
  'task_counts',
  {
    owner: text('owner').notNull(),
    providerId: text('provider_id').notNull(),
    status: taskStatus('status').notNull(),
    tasks: bigint('tasks', { mode: 'number' }).notNull(),
    timed: bigint('timed', { mode: 'number' }).notNull(),
    durationMs: bigint('duration_ms', { mode: 'number' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.owner, t.providerId, t.status] }),
    // Owners with queued tasks at a provider (queuePosition).
    index('task_counts_provider').on(t.providerId, t.status, t.owner),
  ],
);

/**
 * Changes to task_counts not rolled up yet, appended by triggers on tasks (one
 * row per change, so concurrent writes of one key never wait for each other).
 */
export const taskCountDeltas = pgTable(
  'task_count_deltas',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    owner: text('owner').notNull(),
    providerId: text('provider_id').notNull(),
    status: taskStatus('status').notNull(),
    tasks: bigint('tasks', { mode: 'number' }).notNull(),
    timed: bigint('timed', { mode: 'number' }).notNull(),
    durationMs: bigint('duration_ms', { mode: 'number' }).notNull(),
  },
  (t) => [index('task_count_deltas_owner').on(t.owner, t.providerId, t.status)],
);

/**
 * Tasks removed by retention, per owner × provider × status (same columns as
 * task_counts): `stats` adds them to the live counters, so its totals keep the
 * history of tasks that no longer exist (`totalCount` counts only what exists).
 * Incremented in the statement that deletes the tasks (delete-expired-tasks.ts).
 */
export const removedTaskCounts = pgTable(
  'removed_task_counts',
  {
    owner: text('owner').notNull(),
    providerId: text('provider_id').notNull(),
    status: taskStatus('status').notNull(),
    tasks: bigint('tasks', { mode: 'number' }).notNull(),
    timed: bigint('timed', { mode: 'number' }).notNull(),
    durationMs: bigint('duration_ms', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.owner, t.providerId, t.status] })],
);

/**
 * The history of finished tasks, for percentiles, costs and series: per owner ×
 * provider × model ('' for none) × final status × cost currency ('' for none)
 * and per period (`span` 'hour' or 'day', starting at `start`, UTC, by when the
 * task finished; 'all': everything, `start` the epoch). Fed by a trigger on the
 * terminal transition through task_history_deltas (drizzle/0008_history.sql)
 * and rolled up by src/db/roll-up-history.ts. Deleting tasks never reduces it.
 * `runHist` / `queueHist`: counts per log-scale bucket (src/db/histogram.ts)
 * of completed_at - started_at (completed tasks) and started_at - created_at
 * (tasks that started).
 */
export const taskHistory = pgTable(
  'task_history',
  {
    owner: text('owner').notNull(),
    span: text('span').$type<HistorySpan>().notNull(),
    start: ts('start').notNull(),
    providerId: text('provider_id').notNull(),
    model: text('model').notNull(),
    status: taskStatus('status').notNull(),
    currency: text('currency').notNull(),
    tasks: bigint('tasks', { mode: 'number' }).notNull(),
    cost: doublePrecision('cost').notNull(),
    runMs: bigint('run_ms', { mode: 'number' }).notNull(),
    runHist: bigint('run_hist', { mode: 'number' }).array().notNull(),
    queueHist: bigint('queue_hist', { mode: 'number' }).array().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.owner, t.span, t.start, t.providerId, t.model, t.status, t.currency] }),
    // Operator keys (every owner): one span's rows in a time range.
    index('task_history_span').on(t.span, t.start),
  ],
);

export type HistorySpan = 'hour' | 'day' | 'all';

/**
 * task_history's hours and days summed over providers and models, for
 * `stats.series` without a provider or model filter: per owner × span
 * ('hour' or 'day') × start × final status × currency, the tasks, their cost
 * and the run-time histogram of completed tasks. Kept by triggers on
 * task_history (drizzle/0010_series.sql), whichever process or version writes
 * it; in use once filled (maintenance_done 'task_series', src/db/roll-up-history.ts).
 */
export const taskSeries = pgTable(
  'task_series',
  {
    owner: text('owner').notNull(),
    span: text('span').$type<Exclude<HistorySpan, 'all'>>().notNull(),
    start: ts('start').notNull(),
    status: taskStatus('status').notNull(),
    currency: text('currency').notNull(),
    tasks: bigint('tasks', { mode: 'number' }).notNull(),
    cost: doublePrecision('cost').notNull(),
    runHist: bigint('run_hist', { mode: 'number' }).array().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.owner, t.span, t.start, t.status, t.currency] }),
    // Operator keys (every owner): one span's rows in a time range.
    index('task_series_span').on(t.span, t.start),
  ],
);

/** Finished tasks not rolled up into task_history yet: one row per terminal transition, as it happened. */
export const taskHistoryDeltas = pgTable(
  'task_history_deltas',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    owner: text('owner').notNull(),
    providerId: text('provider_id').notNull(),
    model: text('model').notNull(),
    status: taskStatus('status').notNull(),
    currency: text('currency').notNull(),
    finishedAt: ts('finished_at').notNull(),
    cost: doublePrecision('cost').notNull(),
    runMs: bigint('run_ms', { mode: 'number' }),
    queueMs: bigint('queue_ms', { mode: 'number' }),
  },
  (t) => [index('task_history_deltas_owner').on(t.owner, t.finishedAt)],
);

/** One-time data steps done after the migrations (e.g. the counter back-fill), by name. */
export const maintenanceDone = pgTable('maintenance_done', {
  name: text('name').primaryKey(),
  doneAt: ts('done_at').notNull().defaultNow(),
});

/**
 * Stored client keys. A name (the owner of the tasks) may have several active
 * keys at once: a rotation adds one, and the old one works until revoked.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: serial('id').primaryKey(),
    name: text('name').notNull(),
    keyHash: text('key_hash').notNull().unique(),
    createdAt: ts('created_at').notNull().defaultNow(),
    revokedAt: ts('revoked_at'),
    /** Per-key overrides of REELAY_MAX_ACTIVE_TASKS_PER_KEY / REELAY_CREATES_PER_MINUTE_PER_KEY; null: the default, 0: off. */
    maxActiveTasks: integer('max_active_tasks'),
    createsPerMinute: integer('creates_per_minute'),
    /** After this the key is refused like an unknown one; null: never. */
    expiresAt: ts('expires_at'),
    /** An operator key: its `tasks` and `stats` span every owner (reads only). */
    admin: boolean('admin').notNull().default(false),
    /** Spend cap per UTC day (in the providers' currency): creates are refused with SPEND_LIMIT once reached; null: none. */
    maxSpendPerDay: doublePrecision('max_spend_per_day'),
  },
  (t) => [index('api_keys_name').on(t.name)],
);

/**
 * Idempotency keys in use: a key maps to the request it was first used for
 * (fingerprint) and its task until `expiresAt`; then it may be used again.
 * Deleting the task frees its key.
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    owner: text('owner').notNull(),
    key: text('key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    taskId: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.owner, t.key] }), index('idempotency_keys_task').on(t.taskId)],
);

/**
 * Task creates of the last minute per owner, the window of the per-minute limit
 * (kept apart from tasks so that deleting a task does not give its create back).
 */
export const recentCreates = pgTable(
  'recent_creates',
  {
    owner: text('owner').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('recent_creates_owner').on(t.owner, t.createdAt)],
);

/** Token bucket per provider for requestsPerMinute, shared by all runner processes. */
export const providerLimits = pgTable('provider_limits', {
  providerId: text('provider_id').primaryKey(),
  tokens: doublePrecision('tokens').notNull(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** Health learnt from outcomes (providers without a health endpoint), shared by all processes. */
export const providerHealth = pgTable('provider_health', {
  providerId: text('provider_id').primaryKey(),
  healthy: boolean('healthy').notNull(),
  message: text('message'),
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  checkedAt: ts('checked_at').notNull().defaultNow(),
});

/**
 * The webhook outbox: one row per event to deliver, written by a trigger on
 * tasks in the transaction that changed the task (drizzle/0007_webhooks.sql), sent by any
 * runner (src/runner/webhook-deliverer.ts). `id` is the webhook-id, stable
 * across retries. While `nextAttemptAt` is set the row is due then (a claimed
 * row: when its claim lapses); null once delivered or given up.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    taskId: uuid('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    owner: text('owner').notNull(),
    /** STARTED, PROGRESS, COMPLETED, FAILED or CANCELLED. */
    event: text('event').notNull(),
    url: text('url').notNull(),
    /** The task row (to_jsonb) as of the event: the body's `data`. */
    task: jsonb('task').$type<Record<string, unknown>>().notNull(),
    /** When the event happened: the body's `timestamp`. */
    createdAt: ts('created_at').notNull().defaultNow(),
    /** When the first attempt was due (PROGRESS events are spaced from the previous one by it). */
    dueAt: ts('due_at').notNull().defaultNow(),
    attempts: integer('attempts').notNull().default(0),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    deliveredAt: ts('delivered_at'),
    nextAttemptAt: ts('next_attempt_at').defaultNow(),
  },
  (t) => [
    index('webhook_deliveries_task').on(t.taskId, t.createdAt),
    index('webhook_deliveries_due').on(t.nextAttemptAt).where(sql`next_attempt_at is not null`),
  ],
);

/** Webhook settings of a stored key name (all its keys, across rotations): the default endpoint and the signing secret. */
export const keyWebhooks = pgTable('key_webhooks', {
  name: text('name').primaryKey(),
  /** Used by tasks created without `webhook`; null: none. */
  url: text('url'),
  /** `whsec_…` (Standard Webhooks): shown only by `npm run keys -- webhook-secret`. */
  secret: text('secret'),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

export type TaskRow = typeof tasks.$inferSelect;
export type NewTaskRow = typeof tasks.$inferInsert;
export type TaskEventRow = typeof taskEvents.$inferSelect;
