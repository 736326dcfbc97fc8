// Read side: task, tasks (Relay connection, keyset), stats, providers, health.
import { sql } from 'drizzle-orm';
import { GraphQLError } from 'graphql';
import { decodeCursor, encodeCursor, isUuid } from '../db/cursor.js';
import { countTasks } from '../db/count-tasks.js';
import { listTasks } from '../db/list-tasks.js';
import type { TaskRow } from '../db/schema.js';
import { getFinishedStats, getStatsSeries, SERIES_LIMITS, summarizeFinished } from '../db/finished-stats.js';
import { getTaskStats, type TaskStats } from '../db/task-stats.js';
import type { TaskFilter } from '../db/task-filter.js';
import type { RegisteredProvider } from '../providers/registry.js';
import { builder } from './builder.js';
import { StatsRef, TaskFilterInput, VideoTaskRef, type StatsView } from './task.js';
import { connectionColumns, selects } from './task-columns.js';
import { canRead, readScope, type Context } from './context.js';

const MAX_PAGE = 100;
const DEFAULT_PAGE = 20;

interface Connection {
  rows: TaskRow[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  /** Whose tasks; null: every owner's (an operator key). */
  owner: string | null;
  filter: TaskFilter;
  /** totalCount, started alongside the page when selected (another pooled connection on Postgres). */
  total?: Promise<number>;
}

const PageInfoRef = builder.objectRef<Connection>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.string({ nullable: true, resolve: (c) => (c.rows[0] ? encodeCursor(c.rows[0]) : null) }),
    endCursor: t.string({ nullable: true, resolve: (c) => (c.rows.length ? encodeCursor(c.rows[c.rows.length - 1]!) : null) }),
  }),
});

const TaskEdgeRef = builder.objectRef<TaskRow>('VideoTaskEdge').implement({
  fields: (t) => ({
    cursor: t.string({ resolve: (r) => encodeCursor(r) }),
    node: t.field({ type: VideoTaskRef, resolve: (r) => r }),
  }),
});

const TaskConnectionRef = builder.objectRef<Connection>('VideoTaskConnection').implement({
  fields: (t) => ({
    edges: t.field({ type: [TaskEdgeRef], resolve: (c) => c.rows }),
    nodes: t.field({ type: [VideoTaskRef], resolve: (c) => c.rows }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (c) => c }),
    totalCount: t.int({ description: 'All tasks matching the filter.', resolve: (c, _a, ctx) => c.total ?? countTasks(ctx.services.database.db, c.owner, c.filter) }),
  }),
});

const TaskOrderEnum = builder.enumType('TaskOrder', { values: ['CREATED_AT_DESC', 'CREATED_AT_ASC'] as const });

function badInput(message: string, field?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', ...(field ? { field } : {}) } });
}

function cursorArg(value: string | null | undefined, name: string) {
  if (value === null || value === undefined) return null;
  const key = decodeCursor(value);
  if (!key) throw badInput(`"${name}" is not a valid cursor`, name);
  return key;
}

function pageSize(value: number | null | undefined, name: string): number | null {
  if (value === null || value === undefined) return null;
  if (value < 0 || value > MAX_PAGE) throw badInput(`"${name}" must be between 0 and ${MAX_PAGE}`, name);
  return value;
}

export function filterFrom(input: { status?: TaskRow['status'][] | null; provider?: string | null; model?: string | null; createdAfter?: Date | null; createdBefore?: Date | null; search?: string | null } | null | undefined): TaskFilter {
  // Postgres text cannot hold NUL: refuse it here rather than fail in SQL.
  for (const key of ['provider', 'model', 'search'] as const) {
    if (input?.[key]?.includes('\0')) throw badInput(`"filter.${key}" must not contain NUL characters`, `filter.${key}`);
  }
  return { ...input };
}

/** The task with this id if the caller may read it; null for a malformed id, a missing task or another key's. */
async function readableTask(ctx: Context, id: string | number): Promise<TaskRow | null> {
  if (!isUuid(String(id))) return null;
  const row = await ctx.loaders.task.load(String(id));
  return row && canRead(ctx, row) ? row : null;
}

/** The owner argument of `tasks` and `stats`: NUL cannot be stored, so it names nobody. */
function ownerArg(owner: string | null | undefined): string | null | undefined {
  if (owner?.includes('\0')) throw badInput('"owner" must not contain NUL characters', 'owner');
  return owner;
}

const EMPTY_STATS: TaskStats = { total: 0, queued: 0, processing: 0, completed: 0, failed: 0, cancelled: 0, successRate: null, avgDurationSeconds: null, byProvider: [] };

/**
 * `stats` with the counts and the finished tasks' figures each read once, when
 * a field asks for them (`stats { series }` reads neither); `scope` undefined:
 * a key asking for another owner's (nothing).
 */
function statsView(db: Context['services']['database']['db'], scope: { owner: string | null; filter: TaskFilter } | undefined): StatsView {
  let counts: Promise<TaskStats> | undefined;
  let finished: ReturnType<StatsView['finished']> | undefined;
  return {
    counts: () => (counts ??= scope ? getTaskStats(db, scope.owner, scope.filter) : Promise.resolve(EMPTY_STATS)),
    finished: () => (finished ??= scope ? getFinishedStats(db, scope.owner, scope.filter) : Promise.resolve(summarizeFinished([]))),
    series: async (span, last) => {
      if (!Number.isInteger(last) || last < 1 || last > SERIES_LIMITS[span]) {
        throw badInput(`"last" must be between 1 and ${SERIES_LIMITS[span]} for ${span === 'hour' ? 'HOUR' : 'DAY'} buckets`, 'last');
      }
      // Nobody's tasks: the same periods, all empty (owner '' has no tasks: key names are never empty).
      return getStatsSeries(db, scope ? scope.owner : '', scope?.filter ?? {}, span, last);
    },
  };
}

const OWNER_ARG_DESCRIPTION = "Operator keys: only this owner's tasks (default: every owner's). Any other key sees only its own tasks: its own name changes nothing, another name selects none.";

builder.queryFields((t) => ({
  task: t.field({
    type: VideoTaskRef,
    nullable: true,
    description: 'A task of the calling client (any task for an operator key); null when missing, malformed or owned by another key.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, { id }, ctx) => readableTask(ctx, id),
  }),
  node: t.field({
    type: builder.nodeInterfaceRef(),
    nullable: true,
    description: 'Relay: the object with this id (a VideoTask; its id is the task UUID). Null like `task(id)`: missing, malformed or another key\'s.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, { id }, ctx) => readableTask(ctx, id),
  }),
  tasks: t.field({
    type: TaskConnectionRef,
    description: `The calling client's tasks (every owner's for an operator key, see owner), newest first by default. Keyset pagination: first/after forward, last/before backward (at most ${MAX_PAGE} per page).`,
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      last: t.arg.int(),
      before: t.arg.string(),
      filter: t.arg({ type: TaskFilterInput }),
      orderBy: t.arg({ type: TaskOrderEnum, defaultValue: 'CREATED_AT_DESC' }),
      owner: t.arg.string({ description: OWNER_ARG_DESCRIPTION }),
    },
    resolve: async (_r, args, ctx, info) => {
      const first = pageSize(args.first, 'first');
      const last = pageSize(args.last, 'last');
      if (first !== null && last !== null) throw badInput('pass either "first" or "last", not both', 'last');
      const after = cursorArg(args.after, 'after');
      const before = cursorArg(args.before, 'before');
      const backward = last !== null || (first === null && before !== null && after === null);
      const filter = filterFrom(args.filter);
      const owner = readScope(ctx, ownerArg(args.owner));
      if (owner === undefined) return { rows: [], hasNextPage: false, hasPreviousPage: false, owner: ctx.owner, filter, total: Promise.resolve(0) };
      const total = selects(info, 'totalCount') ? countTasks(ctx.services.database.db, owner, filter) : undefined;
      total?.catch(() => {}); // awaited by totalCount; a failing page must not leave it unhandled
      const { rows, more } = await listTasks(ctx.services.database.db, {
        owner,
        filter,
        order: args.orderBy ?? 'CREATED_AT_DESC',
        cursor: backward ? before : after,
        direction: backward ? 'backward' : 'forward',
        limit: (backward ? last : first) ?? DEFAULT_PAGE,
        columns: connectionColumns(info),
      });
      return backward
        ? { rows, hasNextPage: before !== null, hasPreviousPage: more, owner, filter, total }
        : { rows, hasNextPage: more, hasPreviousPage: after !== null, owner, filter, total };
    },
  }),
  stats: t.field({
    type: StatsRef,
    description: "Counts and rates over the calling client's tasks matching the filter (every owner's for an operator key, see `owner`).",
    args: { filter: t.arg({ type: TaskFilterInput }), owner: t.arg.string({ description: OWNER_ARG_DESCRIPTION }) },
    resolve: (_r, args, ctx) => {
      const filter = filterFrom(args.filter);
      const owner = readScope(ctx, ownerArg(args.owner));
      const db = ctx.services.database.db;
      return statsView(db, owner === undefined ? undefined : { owner, filter });
    },
  }),
}));

// ---- providers and health ----

const DurationRangeRef = builder.objectRef<{ min: number; max: number }>('DurationRange').implement({
  fields: (t) => ({ min: t.exposeFloat('min'), max: t.exposeFloat('max') }),
});

const CapabilitiesRef = builder.objectRef<RegisteredProvider['provider']['capabilities']>('ProviderCapabilities').implement({
  fields: (t) => ({
    textToVideo: t.exposeBoolean('textToVideo'),
    imageToVideo: t.exposeBoolean('imageToVideo'),
    imageUrlOnly: t.boolean({ description: 'Input images only as image.url.', resolve: (c) => c.imageUrlOnly ?? false }),
    cancel: t.exposeBoolean('cancel'),
    progress: t.exposeBoolean('progress'),
    negativePrompt: t.exposeBoolean('negativePrompt'),
    seed: t.exposeBoolean('seed'),
    customSize: t.exposeBoolean('customSize'),
    durations: t.field({ type: DurationRangeRef, nullable: true, resolve: (c) => c.durations }),
    aspectRatios: t.exposeStringList('aspectRatios'),
    models: t.exposeStringList('models'),
  }),
});

const ProviderRef = builder.objectRef<RegisteredProvider>('Provider').implement({
  fields: (t) => ({
    id: t.string({ resolve: (p) => p.config.id }),
    kind: t.string({ resolve: (p) => p.config.kind }),
    models: t.stringList({ resolve: (p) => p.provider.capabilities.models }),
    capabilities: t.field({ type: CapabilitiesRef, resolve: (p) => p.provider.capabilities }),
    maxConcurrency: t.int({ resolve: (p) => p.config.maxConcurrency }),
    isDefault: t.boolean({ resolve: (p, _a, ctx) => p.config.id === ctx.services.config.defaultProvider }),
    healthy: t.boolean({ resolve: (p, _a, ctx) => ctx.services.health.get(p.config.id).healthy }),
  }),
});

const HealthProviderRef = builder.objectRef<{ id: string; kind: string; healthy: boolean; message: string | null; checkedAt: Date | null }>('ProviderHealth').implement({
  fields: (t) => ({
    id: t.exposeString('id'),
    kind: t.exposeString('kind'),
    healthy: t.exposeBoolean('healthy'),
    message: t.exposeString('message', { nullable: true }),
    checkedAt: t.field({ type: 'DateTime', nullable: true, resolve: (h) => h.checkedAt }),
  }),
});

export async function healthReport(ctx: Pick<Context, 'services'>) {
  let db = true;
  try {
    await ctx.services.database.db.execute(sql`select 1`);
  } catch {
    db = false;
  }
  const providers = ctx.services.registry.list().map((p) => ({ id: p.config.id, kind: p.config.kind, ...ctx.services.health.get(p.config.id) }));
  return { status: db ? 'ok' : 'degraded', db, providers };
}

const HealthRef = builder.objectRef<Awaited<ReturnType<typeof healthReport>>>('Health').implement({
  fields: (t) => ({
    status: t.exposeString('status'),
    db: t.exposeBoolean('db'),
    providers: t.field({ type: [HealthProviderRef], resolve: (h) => h.providers }),
  }),
});

builder.queryFields((t) => ({
  providers: t.field({ type: [ProviderRef], resolve: (_r, _a, ctx) => ctx.services.registry.list() }),
  health: t.field({ type: HealthRef, resolve: (_r, _a, ctx) => healthReport(ctx) }),
}));
