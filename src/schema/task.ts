// VideoTask and the types it is made of.
import { TASK_STATUSES, type TaskEventRow, type TaskRow } from '../db/schema.js';
import { posterFileOf } from '../storage/posters.js';
import { fileLink } from '../storage/signed-urls.js';
import { shownCost } from '../tasks/price.js';
import type { FinishedStats, StatsBucket } from '../db/finished-stats.js';
import type { Money } from '../money.js';
import type { TaskStats } from '../db/task-stats.js';
import { builder } from './builder.js';
import { canRead, type Context } from './context.js';
import { taskEstimate } from './task-eta.js';

export const TaskStatusEnum = builder.enumType('TaskStatus', {
  description: 'QUEUED: waiting for a free slot at its provider. PROCESSING: handed to the provider (including its own queue). The other three are final.',
  values: TASK_STATUSES,
});

export const MediaTypeEnum = builder.enumType('MediaType', { values: ['VIDEO', 'IMAGE'] as const });

/**
 * The absolute /files/ URL of a stored file; signed, and valid for at least
 * REELAY_FILE_URL_TTL_SECONDS from now, when signed links are configured (made
 * whenever a result is serialized: each subscription push gets a fresh one).
 */
export function fileUrl(ctx: Context, file: string): string {
  return fileLink(ctx.origin(), file, ctx.services.config.fileUrls);
}

type ResultShape = NonNullable<TaskRow['result']>;

const TaskResultRef = builder.objectRef<ResultShape>('TaskResult').implement({
  description: 'The finished media, stored by reelay.',
  fields: (t) => ({
    url: t.string({ description: "reelay's own download URL (supports Range and HEAD; signed and expiring when REELAY_FILE_URL_TTL_SECONDS is set); answers 410 Gone once fileExpired.", resolve: (r, _a, ctx) => fileUrl(ctx, r.file) }),
    thumbnailUrl: t.string({
      nullable: true,
      description: 'A JPEG poster frame of a video result (at most 640 px wide), made on first request and then kept next to the video; null for an image result.',
      resolve: (r, _a, ctx) => {
        const poster = posterFileOf(r);
        return poster ? fileUrl(ctx, poster) : null;
      },
    }),
    upstreamUrl: t.string({ nullable: true, description: 'Where the provider offered it (may expire).', resolve: (r) => r.upstreamUrl }),
    fileExpired: t.boolean({
      description: 'True once file retention (REELAY_FILE_RETENTION_DAYS) removed the stored file: `url` then answers 410 Gone; the other fields still describe it.',
      resolve: (r) => r.fileExpired === true,
    }),
    contentType: t.string({ nullable: true, resolve: (r) => r.contentType }),
    sizeBytes: t.float({ resolve: (r) => r.sizeBytes }),
    durationSeconds: t.float({ nullable: true, resolve: (r) => r.durationSeconds }),
    width: t.int({ nullable: true, resolve: (r) => r.width }),
    height: t.int({ nullable: true, resolve: (r) => r.height }),
  }),
});

const TaskErrorRef = builder.objectRef<{ code: string; message: string }>('TaskError').implement({
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

const TaskEventRef = builder.objectRef<TaskEventRow>('TaskEvent').implement({
  description: 'One entry of the task history.',
  fields: (t) => ({
    status: t.field({ type: TaskStatusEnum, resolve: (e) => e.status }),
    progress: t.float({ nullable: true, resolve: (e) => e.progress }),
    message: t.string({ nullable: true, resolve: (e) => e.message }),
    at: t.field({ type: 'DateTime', resolve: (e) => e.at }),
  }),
});

const InputImageRef = builder.objectRef<NonNullable<TaskRow['inputImage']>>('InputImage').implement({
  fields: (t) => ({
    url: t.string({ resolve: (i, _a, ctx) => (i.kind === 'file' ? fileUrl(ctx, i.file!) : i.url!) }),
    contentType: t.string({ nullable: true, resolve: (i) => i.contentType ?? null }),
  }),
});

export const MoneyRef = builder.objectRef<Money>('Money').implement({
  description: 'An amount in a currency (ISO 4217 code, e.g. USD), from the providers\' configured pricing.',
  fields: (t) => ({
    amount: t.exposeFloat('amount'),
    currency: t.exposeString('currency'),
  }),
});

// A field reading another column must say so in task-columns.ts (list pages load only what their fields read).
export const VideoTaskRef = builder.objectRef<TaskRow>('VideoTask');
VideoTaskRef.implement({
  interfaces: [builder.nodeInterfaceRef()],
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The task UUID (also its Relay node id).' }),
    status: t.field({ type: TaskStatusEnum, resolve: (r) => r.status }),
    progress: t.float({ nullable: true, description: '0..1, null when the upstream reports none.', resolve: (r) => r.progress }),
    queuePosition: t.int({
      nullable: true,
      description:
        "1-based place in the fair order of its provider's queue: free slots go round-robin across owners (each owner's tasks in creation order), so it is not the count of older tasks. Null unless QUEUED.",
      resolve: (r, _a, ctx) => (r.status === 'QUEUED' ? ctx.loaders.queuePosition.load(r.id) : null),
    }),
    estimatedSecondsRemaining: t.float({
      nullable: true,
      description:
        "Seconds until the task is expected to finish, while QUEUED or PROCESSING: from the median run time of the provider's and model's last 50 COMPLETED tasks, the queue ahead of it and the provider's maxConcurrency, refined by the upstream's progress where it reports one. Null for a finished task and while the provider and model have no completed task yet.",
      resolve: async (r, _a, ctx) => (await taskEstimate(ctx, r))?.seconds ?? null,
    }),
    estimatedCompletionAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the task is expected to finish: now + estimatedSecondsRemaining (null when that is).',
      resolve: async (r, _a, ctx) => (await taskEstimate(ctx, r))?.at ?? null,
    }),
    prompt: t.exposeString('prompt'),
    negativePrompt: t.string({ nullable: true, resolve: (r) => r.negativePrompt }),
    provider: t.string({ description: 'Provider id from the configuration.', resolve: (r) => r.providerId }),
    model: t.string({ nullable: true, resolve: (r) => r.model }),
    providerTaskId: t.string({ nullable: true, description: "The upstream's own id, once it accepted the task.", resolve: (r) => r.providerTaskId }),
    upstreamStatus: t.string({ nullable: true, description: "The upstream's last status word, as it said it.", resolve: (r) => r.upstreamStatus }),
    mediaType: t.field({ type: MediaTypeEnum, resolve: (r) => r.mediaType }),
    params: t.field({ type: 'JSON', description: 'durationSeconds, width, height, aspectRatio, seed as requested.', resolve: (r) => r.params }),
    inputImage: t.field({ type: InputImageRef, nullable: true, resolve: (r) => r.inputImage }),
    result: t.field({ type: TaskResultRef, nullable: true, resolve: (r) => r.result }),
    error: t.field({ type: TaskErrorRef, nullable: true, resolve: (r) => (r.errorCode ? { code: r.errorCode, message: r.errorMessage ?? '' } : null) }),
    attempts: t.exposeInt('attempts', { description: 'Submission attempts so far.' }),
    events: t.field({ type: [TaskEventRef], resolve: (r, _a, ctx) => ctx.loaders.events.load(r.id) }),
    createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.startedAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.completedAt }),
    retryOf: t.field({
      type: VideoTaskRef,
      nullable: true,
      description: 'The FAILED or CANCELLED task this one retries (retryTask); null for a first attempt, or once that task is deleted.',
      resolve: async (r, _a, ctx) => {
        if (!r.retryOf) return null;
        const original = await ctx.loaders.task.load(r.retryOf);
        return original && canRead(ctx, original) ? original : null;
      },
    }),
    owner: t.string({
      nullable: true,
      description: 'The name of the key that created the task: shown to operator keys only (null for any other key).',
      resolve: (r, _a, ctx) => (ctx.principal.admin === true ? r.owner : null),
    }),
    cost: t.field({
      type: MoneyRef,
      nullable: true,
      description:
        "What the task cost, priced from its provider's `pricing` when it completed and kept with it (later price changes do not rewrite it). FAILED and CANCELLED tasks cost nothing (amount 0). Null while the task runs, or when its provider has no pricing.",
      resolve: (r, _a, ctx) => shownCost(r, (id) => ctx.services.registry.get(id)?.config.pricing?.currency),
    }),
  }),
});

/** `stats` as resolved: the counts, the finished tasks' figures and the series, each read only when a field asks. */
export interface StatsView {
  counts: () => Promise<TaskStats>;
  finished: () => Promise<FinishedStats>;
  series: (span: 'hour' | 'day', last: number) => Promise<StatsBucket[]>;
}

type ProviderStatsView = TaskStats['byProvider'][number] & { finished: () => Promise<FinishedStats> };

const ProviderStatsRef = builder.objectRef<ProviderStatsView>('ProviderStats').implement({
  fields: (t) => ({
    provider: t.exposeString('provider'),
    total: t.exposeInt('total'),
    completed: t.exposeInt('completed'),
    failed: t.exposeInt('failed'),
    cost: t.field({
      type: [MoneyRef],
      description: "What this provider's tasks cost, one entry per currency.",
      resolve: async (p) => (await p.finished()).costByProvider.get(p.provider) ?? [],
    }),
  }),
});

export const StatsBucketSizeEnum = builder.enumType('StatsBucketSize', {
  description: 'A UTC hour or a UTC day.',
  values: ['HOUR', 'DAY'] as const,
});

const StatsBucketRef = builder.objectRef<StatsBucket>('StatsBucket').implement({
  description: 'The tasks that reached a final state within one period (by completedAt).',
  fields: (t) => ({
    start: t.field({ type: 'DateTime', description: 'The first instant of the period (UTC).', resolve: (b) => b.start }),
    total: t.exposeInt('total', { description: 'Tasks that finished in the period (completed, failed or cancelled).' }),
    completed: t.exposeInt('completed'),
    failed: t.exposeInt('failed'),
    cancelled: t.exposeInt('cancelled'),
    successRate: t.float({ nullable: true, description: 'completed / (completed + failed).', resolve: (b) => b.successRate }),
    p50DurationSeconds: t.float({ nullable: true, description: 'Median run time of the completed tasks (within 5 %).', resolve: (b) => b.p50DurationSeconds }),
    cost: t.field({ type: [MoneyRef], description: 'What they cost, one entry per currency.', resolve: (b) => b.cost }),
  }),
});

export const StatsRef = builder.objectRef<StatsView>('Stats').implement({
  fields: (t) => ({
    total: t.int({ resolve: async (s) => (await s.counts()).total }),
    queued: t.int({ resolve: async (s) => (await s.counts()).queued }),
    processing: t.int({ resolve: async (s) => (await s.counts()).processing }),
    completed: t.int({ resolve: async (s) => (await s.counts()).completed }),
    failed: t.int({ resolve: async (s) => (await s.counts()).failed }),
    cancelled: t.int({ resolve: async (s) => (await s.counts()).cancelled }),
    successRate: t.float({ nullable: true, description: 'completed / (completed + failed).', resolve: async (s) => (await s.counts()).successRate }),
    avgDurationSeconds: t.float({
      nullable: true,
      description: 'Mean time from start to completion of completed tasks.',
      resolve: async (s) => (await s.counts()).avgDurationSeconds,
    }),
    byProvider: t.field({ type: [ProviderStatsRef], resolve: async (s) => (await s.counts()).byProvider.map((p) => ({ ...p, finished: s.finished })) }),
    p50DurationSeconds: t.float({
      nullable: true,
      description: 'Median run time (start to completion) of the completed tasks, from histograms (within 5 %).',
      resolve: async (s) => (await s.finished()).p50DurationSeconds,
    }),
    p95DurationSeconds: t.float({ nullable: true, description: '95th percentile of the same run times.', resolve: async (s) => (await s.finished()).p95DurationSeconds }),
    p50QueueSeconds: t.float({
      nullable: true,
      description: 'Median wait from creation to start of the finished tasks that started (within 5 %).',
      resolve: async (s) => (await s.finished()).p50QueueSeconds,
    }),
    cost: t.field({
      type: [MoneyRef],
      description: 'What the matching tasks cost, one entry per currency (completed tasks; failed and cancelled ones cost nothing).',
      resolve: async (s) => (await s.finished()).cost,
    }),
    series: t.field({
      type: [StatsBucketRef],
      description:
        'The last `last` UTC hours (at most 168) or days (at most 90), oldest first, the current one last, counting tasks by when they finished. The filter\'s provider, model and status apply; createdAfter, createdBefore and search do not.',
      args: { bucket: t.arg({ type: StatsBucketSizeEnum, required: true }), last: t.arg.int({ required: true }) },
      resolve: (s, args) => s.series(args.bucket === 'HOUR' ? 'hour' : 'day', args.last),
    }),
  }),
});

export const TaskFilterInput = builder.inputType('TaskFilter', {
  fields: (t) => ({
    status: t.field({ type: [TaskStatusEnum], required: false }),
    provider: t.string({ required: false }),
    model: t.string({ required: false }),
    createdAfter: t.field({ type: 'DateTime', required: false }),
    createdBefore: t.field({ type: 'DateTime', required: false }),
    search: t.string({ required: false, description: 'Case-insensitive substring of the prompt.' }),
  }),
});
