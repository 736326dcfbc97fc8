// createVideoTask, retryTask, cancelTask, deleteTask: expected failures come back as data.
import { createTask } from '../db/create-task.js';
import { tasksCreated } from '../metrics.js';
import { newTaskId } from '../db/task-id.js';
import { isUuid } from '../db/cursor.js';
import { deleteTerminalTask } from '../db/delete-task.js';
import { getTask } from '../db/read-tasks.js';
import type { TaskRow } from '../db/schema.js';
import { cancelTask } from '../runner/cancel.js';
import { removeTaskFiles } from '../storage/results.js';
import { storedInputImageFile, storeInputImage } from '../storage/input-images.js';
import { requestFingerprint } from '../tasks/fingerprint.js';
import { validateCreate, type CreateInput } from '../tasks/validate-create.js';
import { builder } from './builder.js';
import { IdempotencyConflictError, InvalidStateError, NotFoundError, RateLimitedError, UnsupportedError, ValidationError } from '../errors.js';
import type { Context } from './context.js';
import { VideoTaskRef } from './task.js';
import { WebhookInput } from './webhooks.js';
import { taskWebhook, type WebhookEvent } from '../tasks/webhook-input.js';

const ImageInput = builder.inputType('ImageInput', {
  description: 'Exactly one of url, base64 (raw or a data: URL) or file (multipart upload). PNG, JPEG or WebP.',
  fields: (t) => ({
    url: t.string({ required: false }),
    base64: t.string({ required: false }),
    file: t.field({ type: 'File', required: false }),
  }),
});

const CreateVideoTaskInput = builder.inputType('CreateVideoTaskInput', {
  fields: (t) => ({
    prompt: t.string({ required: true }),
    negativePrompt: t.string({ required: false }),
    provider: t.string({ required: false, description: 'Provider id; default: the provider listing `model`, else defaultProvider.' }),
    model: t.string({ required: false }),
    image: t.field({ type: ImageInput, required: false }),
    durationSeconds: t.float({ required: false }),
    width: t.int({ required: false }),
    height: t.int({ required: false }),
    aspectRatio: t.string({ required: false, description: 'e.g. "16:9", "9:16", "1:1".' }),
    seed: t.int({ required: false }),
    idempotencyKey: t.string({
      required: false,
      description: 'Same key and same request from the same client within 24 hours → the same task; a different request → IdempotencyConflictError.',
    }),
    webhook: t.field({ type: WebhookInput, required: false, description: "Where to POST the task's events (signed, Standard Webhooks); default: the key's default endpoint, if it has one." }),
  }),
});

const TaskPayload = (name: string) =>
  builder.objectRef<{ task: TaskRow }>(name).implement({
    fields: (t) => ({ task: t.field({ type: VideoTaskRef, resolve: (p) => p.task }) }),
  });

const CreateVideoTaskSuccess = TaskPayload('CreateVideoTaskSuccess');
const CancelTaskSuccess = TaskPayload('CancelTaskSuccess');
const RetryTaskSuccess = TaskPayload('RetryTaskSuccess');
const DeleteTaskSuccess = builder.objectRef<{ id: string }>('DeleteTaskSuccess').implement({
  fields: (t) => ({ id: t.exposeID('id') }),
});

function requireTaskId(id: string | number): string {
  const s = String(id);
  if (!isUuid(s)) throw new NotFoundError(`no task ${s}`);
  return s;
}

/** Statuses a task can be retried from. */
const RETRYABLE: readonly TaskRow['status'][] = ['FAILED', 'CANCELLED'];

/**
 * The one create path (createVideoTask, retryTask): validation against the
 * provider, the input image, the key's limits, idempotency, the counters and
 * the change notification (both in createTask).
 */
async function createFor(ctx: Context, input: CreateInput, extra: { retryOf?: string } = {}): Promise<TaskRow> {
  const { config, registry, database } = ctx.services;
  const v = validateCreate(input, registry, config);
  const hook = taskWebhook(input.webhook, ctx.principal.via === 'database' ? ctx.principal.webhookUrl : null, {
    allowHosts: config.webhooks.allowHosts,
    // A stored key's deliveries are signed with its own secret; anyone else's with REELAY_WEBHOOK_SECRET.
    canSign: ctx.principal.via === 'database' || !!config.webhooks.secret,
  });
  const id = newTaskId();
  const inputImage = v.image ? await storeInputImage(v.image, id, config.filesDir, { maxBytes: config.maxImageBytes, maxPixels: config.maxImagePixels, slotWaitMs: config.imageCheckWaitMs }) : null;
  const values = { id, owner: ctx.owner, providerId: v.entry.config.id, model: v.model, prompt: v.prompt, negativePrompt: v.negativePrompt, params: v.params, inputImage, ...(extra.retryOf ? { retryOf: extra.retryOf } : {}), ...(hook ? { ...hook, requestOrigin: ctx.origin() } : {}) };
  const idempotency = v.idempotencyKey ? { key: v.idempotencyKey, fingerprint: requestFingerprint(values, v.entry.provider.capabilities.defaults) } : undefined;
  // A stored key's own limits, else the defaults (environment keys and anonymous).
  const own = ctx.principal.via === 'database' ? ctx.principal.limits : undefined;
  const limits = { maxActive: own?.maxActive ?? config.maxActiveTasksPerKey, perMinute: own?.perMinute ?? config.createsPerMinutePerKey, maxSpendPerDay: own?.maxSpendPerDay ?? 0 };
  let outcome: Awaited<ReturnType<typeof createTask>>;
  try {
    outcome = await createTask(database.db, values, { idempotency, limits });
  } catch (err) {
    // Refused (idempotency conflict, over a limit): keep nothing of this request.
    if (inputImage?.kind === 'file') await removeTaskFiles(config.filesDir, id);
    throw err;
  }
  if (!outcome.created && inputImage?.kind === 'file') await removeTaskFiles(config.filesDir, id);
  if (outcome.created) tasksCreated.inc({ provider: outcome.task.providerId });
  return outcome.task;
}

/** What a task was created with, as a createVideoTask input (its provider: the one asked for, before any fallback). */
async function inputOf(task: TaskRow, filesDir: string): Promise<CreateInput> {
  let image: CreateInput['image'] = null;
  if (task.inputImage?.kind === 'url') image = { url: task.inputImage.url ?? null };
  else if (task.inputImage) {
    const file = await storedInputImageFile(task.inputImage, filesDir);
    if (!file) throw new ValidationError('image', `the input image stored with task ${task.id} is gone`, 'INPUT_IMAGE_GONE');
    image = { file };
  }
  const p = task.params;
  return {
    prompt: task.prompt,
    negativePrompt: task.negativePrompt,
    provider: task.triedProviders[0] ?? task.providerId,
    model: task.model,
    image,
    durationSeconds: p.durationSeconds,
    width: p.width,
    height: p.height,
    aspectRatio: p.aspectRatio,
    seed: p.seed,
    webhook: task.webhookUrl && task.webhookEvents ? { url: task.webhookUrl, events: task.webhookEvents as WebhookEvent[] } : null,
  };
}

builder.mutationFields((t) => ({
  createVideoTask: t.field({
    type: CreateVideoTaskSuccess,
    errors: { types: [ValidationError, UnsupportedError, IdempotencyConflictError, RateLimitedError], directResult: true, union: { name: 'CreateVideoTaskResult' } },
    args: { input: t.arg({ type: CreateVideoTaskInput, required: true }) },
    resolve: async (_r, { input }, ctx) => ({ task: await createFor(ctx, input) }),
  }),
  retryTask: t.field({
    type: RetryTaskSuccess,
    description:
      'A new task with the same input (and stored input image) as a FAILED or CANCELLED one, through the same checks and limits as createVideoTask; the new task names the old one in `retryOf`.',
    errors: { types: [NotFoundError, InvalidStateError, ValidationError, UnsupportedError, RateLimitedError], directResult: true, union: { name: 'RetryTaskResult' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const id = requireTaskId(args.id);
      // Only the caller's own task: an operator key acts as itself too.
      const original = await getTask(ctx.services.database.db, id, ctx.owner);
      if (!original) throw new NotFoundError(`no task ${id}`);
      if (!RETRYABLE.includes(original.status)) throw new InvalidStateError('TASK_NOT_RETRYABLE', `task ${id} is ${original.status}; only FAILED or CANCELLED tasks can be retried`);
      return { task: await createFor(ctx, await inputOf(original, ctx.services.config.filesDir), { retryOf: original.id }) };
    },
  }),
  cancelTask: t.field({
    type: CancelTaskSuccess,
    errors: { types: [NotFoundError, InvalidStateError], directResult: true, union: { name: 'CancelTaskResult' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const id = requireTaskId(args.id);
      const { database, registry, log } = ctx.services;
      const out = await cancelTask(database.db, registry, log.child({ reqId: ctx.requestId }), id, ctx.owner);
      if (out.ok) return { task: out.task };
      if (out.reason === 'not-found') throw new NotFoundError(`no task ${id}`);
      throw new InvalidStateError('TASK_FINISHED', `task ${id} is already ${out.task.status}`);
    },
  }),
  deleteTask: t.field({
    type: DeleteTaskSuccess,
    description: 'Remove a finished task and its stored files.',
    errors: { types: [NotFoundError, InvalidStateError], directResult: true, union: { name: 'DeleteTaskResult' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const id = requireTaskId(args.id);
      const { database, config } = ctx.services;
      const deleted = await deleteTerminalTask(database.db, id, ctx.owner);
      if (!deleted) {
        const task = await getTask(database.db, id, ctx.owner);
        if (!task) throw new NotFoundError(`no task ${id}`);
        throw new InvalidStateError('TASK_NOT_FINISHED', `task ${id} is ${task.status}; cancel it first`);
      }
      await removeTaskFiles(config.filesDir, id);
      return { id };
    },
  }),
}));
