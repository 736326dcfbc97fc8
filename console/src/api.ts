// The console's GraphQL client: HTTP for queries and mutations (multipart for
// image uploads), graphql-ws for `tasksUpdated`. Its functions are named like
// src/client's createReelayClient (createVideoTask, tasks, cancelTask,
// retryTask, watch, …) so that client can replace this module.
import { createClient, type Client } from 'graphql-ws';

export type TaskStatus = 'QUEUED' | 'PROCESSING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';
export const STATUSES: TaskStatus[] = ['QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'];
export const FINAL: ReadonlySet<TaskStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export interface TaskResult {
  url: string;
  contentType: string | null;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
  sizeBytes: number;
  /** Present once the server has `TaskResult.thumbnailUrl` (see Features). */
  thumbnailUrl?: string | null;
}

export interface Task {
  id: string;
  status: TaskStatus;
  progress: number | null;
  queuePosition: number | null;
  prompt: string;
  negativePrompt: string | null;
  provider: string;
  model: string | null;
  mediaType: 'VIDEO' | 'IMAGE';
  params: Record<string, unknown>;
  upstreamStatus: string | null;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
  updatedAt: string;
  error: { code: string; message: string } | null;
  result: TaskResult | null;
  inputImage: { url: string; contentType: string | null } | null;
  /** Present once the server has `VideoTask.estimatedSecondsRemaining` (see Features). */
  estimatedSecondsRemaining?: number | null;
}

export interface TaskEvent {
  status: TaskStatus;
  progress: number | null;
  message: string | null;
  at: string;
}

export interface Provider {
  id: string;
  kind: string;
  models: string[];
  healthy: boolean;
  isDefault: boolean;
  capabilities: {
    textToVideo: boolean;
    imageToVideo: boolean;
    imageUrlOnly: boolean;
    cancel: boolean;
    progress: boolean;
    negativePrompt: boolean;
    seed: boolean;
    customSize: boolean;
    aspectRatios: string[];
    durations: { min: number; max: number } | null;
  };
}

export interface TaskFilter {
  status?: TaskStatus[];
  provider?: string;
  search?: string;
}

export interface TaskPage {
  totalCount: number;
  nodes: Task[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** One point of `stats.series`, whatever its fields are called: a label and named numbers. */
export interface SeriesPoint {
  label: string;
  values: Record<string, number>;
}

export interface Stats {
  total: number;
  queued: number;
  processing: number;
  completed: number;
  failed: number;
  cancelled: number;
  successRate: number | null;
  avgDurationSeconds: number | null;
  byProvider: { provider: string; total: number; completed: number; failed: number }[];
  series?: SeriesPoint[];
}

export interface Health {
  status: string;
  db: boolean;
  providers: { id: string; kind: string; healthy: boolean; message: string | null; checkedAt: string | null }[];
}

/** An error as data (the API's `Error` interface); `field` names the input it is about, when it is. */
export interface ApiError {
  code: string;
  message: string;
  field?: string | null;
  retryAfterSeconds?: number | null;
}

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ApiError };

export interface CreateInput {
  prompt: string;
  negativePrompt?: string;
  provider?: string;
  model?: string;
  durationSeconds?: number;
  aspectRatio?: string;
  width?: number;
  height?: number;
  seed?: number;
  image?: { url: string } | { file: File };
}

/** The key is missing, wrong or no longer works: ask for one. */
export class AuthError extends Error {}

/**
 * Fields that other parts of reelay may add to the schema: the console asks the
 * server (introspection) and selects each only when it exists.
 */
export interface Features {
  /** VideoTask.estimatedSecondsRemaining */
  eta: boolean;
  /** TaskResult.thumbnailUrl */
  thumbnail: boolean;
  /** Stats.series: its selection, and which field is the label. */
  series: { selection: string; label: string; values: string[] } | null;
}

const NO_FEATURES: Features = { eta: false, thumbnail: false, series: null };

interface GqlError {
  message: string;
  extensions?: { code?: string; field?: string };
}

export interface ReelayApi {
  readonly features: Features;
  /** Learns which optional fields the server has; throws AuthError when a key is needed. */
  init(): Promise<void>;
  providers(): Promise<Provider[]>;
  createVideoTask(input: CreateInput): Promise<Outcome<Task>>;
  tasks(args: { first: number; after?: string | null; filter: TaskFilter }): Promise<TaskPage>;
  task(id: string): Promise<(Task & { events: TaskEvent[] }) | null>;
  cancelTask(id: string): Promise<Outcome<Task>>;
  retryTask(id: string): Promise<Outcome<Task>>;
  deleteTask(id: string): Promise<Outcome<string>>;
  stats(): Promise<Stats>;
  health(): Promise<Health>;
  /** Every change to the key's tasks matching the filter; returns the function that stops watching. */
  watch(filter: TaskFilter, sink: { next(task: Task): void; error(err: unknown): void }): () => void;
  close(): void;
}

export interface ApiOptions {
  key: string | null;
  /** The socket (re)connected: what was missed while it was down should be re-read. */
  onConnected?(reconnect: boolean): void;
  onDisconnected?(): void;
  /** The key stopped working: the server closed the socket with 4403, or answered 401 after init(). */
  onAuthLost?(): void;
}

/** Selections of the errors a result union can hold (a fragment on a type outside the union is invalid). */
const ERRORS = `__typename ... on Error { code message }`;
const INPUT_ERRORS = `${ERRORS} ... on ValidationError { field } ... on UnsupportedError { field } ... on RateLimitedError { retryAfterSeconds }`;

function taskFields(f: Features): string {
  const result = `result { url contentType width height durationSeconds sizeBytes${f.thumbnail ? ' thumbnailUrl' : ''} }`;
  return `id status progress queuePosition prompt negativePrompt provider model mediaType params upstreamStatus createdAt startedAt completedAt updatedAt error { code message } ${result} inputImage { url contentType }${f.eta ? ' estimatedSecondsRemaining' : ''}`;
}

/** The filter as the API takes it: empty parts left out. */
function apiFilter(filter: TaskFilter): Record<string, unknown> | null {
  const out: Record<string, unknown> = {};
  if (filter.status?.length) out.status = filter.status;
  if (filter.provider) out.provider = filter.provider;
  if (filter.search?.trim()) out.search = filter.search.trim();
  return Object.keys(out).length ? out : null;
}

type IntrospectedType = { kind: string; name: string | null; ofType: IntrospectedType | null } | null;
const named = (t: IntrospectedType): IntrospectedType => (t && t.ofType ? named(t.ofType) : t);
const TYPE_REF = 'kind name ofType { kind name ofType { kind name ofType { kind name } } }';

export function createApi(opts: ApiOptions): ReelayApi {
  const auth: Record<string, string> = opts.key ? { authorization: `Bearer ${opts.key}` } : {};
  let features: Features = NO_FEATURES;
  let ws: Client | null = null;
  /** init() went through: a 401 from now on means the key stopped working. */
  let started = false;

  async function post<T>(query: string, variables: Record<string, unknown> = {}, file?: File): Promise<T> {
    // The CSRF header on every POST: JSON needs none, multipart must have it (README "Browsers and other sites").
    const headers: Record<string, string> = { accept: 'application/graphql-response+json, application/json', 'x-graphql-yoga-csrf': 'reelay-console', ...auth };
    let body: BodyInit;
    if (file) {
      // GraphQL multipart request: the file replaces variables.input.image.file.
      const form = new FormData();
      form.append('operations', JSON.stringify({ query, variables }));
      form.append('map', JSON.stringify({ 0: ['variables.input.image.file'] }));
      form.append('0', file, file.name);
      body = form;
    } else {
      headers['content-type'] = 'application/json';
      body = JSON.stringify({ query, variables });
    }
    const res = await fetch('/graphql', { method: 'POST', headers, body });
    let json: { data?: T; errors?: GqlError[] } | undefined;
    try {
      json = await res.json();
    } catch {
      throw new Error(`HTTP ${res.status} from /graphql`);
    }
    const errors = json?.errors ?? [];
    if (res.status === 401 || errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) {
      // Refused after it worked (revoked, expired): the app asks for a key again.
      if (started) opts.onAuthLost?.();
      throw new AuthError(errors[0]?.message ?? 'an API key is required');
    }
    if (errors.length) {
      const err = new Error(errors.map((e) => e.message).join('; ')) as Error & { code?: string; field?: string };
      err.code = errors[0]!.extensions?.code;
      err.field = errors[0]!.extensions?.field;
      throw err;
    }
    if (!json?.data) throw new Error(`HTTP ${res.status} from /graphql`);
    return json.data;
  }

  function outcome<T>(payload: Record<string, unknown>, pick: (p: Record<string, unknown>) => T): Outcome<T> {
    if (typeof payload.code === 'string') return { ok: false, error: payload as unknown as ApiError };
    return { ok: true, value: pick(payload) };
  }

  async function discoverSeries(): Promise<Features['series']> {
    const d = await post<{ stats: { fields: { name: string; args: { name?: string; type: IntrospectedType; defaultValue: string | null }[]; type: IntrospectedType }[] } | null } >(
      `{ stats: __type(name: "Stats") { fields { name args { name defaultValue type { kind } } type { ${TYPE_REF} } } } }`,
    );
    const field = d.stats?.fields.find((f) => f.name === 'series');
    // reelay's own series(bucket, last): the last 24 hours, hour by hour (UTC).
    if (field?.args.some((a) => a.name === 'bucket') && field.args.some((a) => a.name === 'last')) {
      return { selection: 'series(bucket: HOUR, last: 24) { start completed failed }', label: 'start', values: ['completed', 'failed'] };
    }
    if (!field || field.args.some((a) => a.type?.kind === 'NON_NULL' && a.defaultValue == null)) return null;
    const item = named(field.type);
    if (!item?.name || item.kind !== 'OBJECT') return null;
    const t = await post<{ t: { fields: { name: string; args: unknown[]; type: IntrospectedType }[] } | null }>(
      `query($n: String!) { t: __type(name: $n) { fields { name args { name } type { ${TYPE_REF} } } } }`,
      { n: item.name },
    );
    const scalars = (t.t?.fields ?? []).filter((f) => f.args.length === 0 && named(f.type)?.kind === 'SCALAR');
    const label = scalars.find((f) => ['DateTime', 'String'].includes(named(f.type)?.name ?? ''));
    const values = scalars.filter((f) => ['Int', 'Float'].includes(named(f.type)?.name ?? '')).map((f) => f.name);
    if (!label || values.length === 0) return null;
    return { selection: `series { ${label.name} ${values.join(' ')} }`, label: label.name, values };
  }

  return {
    get features() {
      return features;
    },

    async init() {
      const d = await post<{ task: { fields: { name: string }[] } | null; result: { fields: { name: string }[] } | null }>(
        `{ task: __type(name: "VideoTask") { fields { name } } result: __type(name: "TaskResult") { fields { name } } }`,
      );
      const has = (t: { fields: { name: string }[] } | null, name: string) => !!t?.fields.some((f) => f.name === name);
      let series: Features['series'] = null;
      try {
        series = await discoverSeries();
      } catch (err) {
        if (err instanceof AuthError) throw err;
      }
      features = { eta: has(d.task, 'estimatedSecondsRemaining'), thumbnail: has(d.result, 'thumbnailUrl'), series };
      started = true;
    },

    async providers() {
      const d = await post<{ providers: Provider[] }>(
        `{ providers { id kind models healthy isDefault capabilities { textToVideo imageToVideo imageUrlOnly cancel progress negativePrompt seed customSize aspectRatios durations { min max } } } }`,
      );
      return d.providers;
    },

    async createVideoTask(input) {
      const file = input.image && 'file' in input.image ? input.image.file : undefined;
      const vars = { ...input, image: file ? { file: null } : input.image };
      const d = await post<{ createVideoTask: Record<string, unknown> }>(
        `mutation Create($input: CreateVideoTaskInput!) { createVideoTask(input: $input) { ${INPUT_ERRORS} ... on CreateVideoTaskSuccess { task { ${taskFields(features)} } } } }`,
        { input: vars },
        file,
      );
      return outcome(d.createVideoTask, (p) => p.task as Task);
    },

    async tasks({ first, after, filter }) {
      const d = await post<{ tasks: TaskPage }>(
        `query Tasks($first: Int!, $after: String, $filter: TaskFilter) { tasks(first: $first, after: $after, filter: $filter) { totalCount nodes { ${taskFields(features)} } pageInfo { hasNextPage endCursor } } }`,
        { first, after: after ?? null, filter: apiFilter(filter) },
      );
      return d.tasks;
    },

    async task(id) {
      const d = await post<{ task: (Task & { events: TaskEvent[] }) | null }>(
        `query Task($id: ID!) { task(id: $id) { ${taskFields(features)} events { status progress message at } } }`,
        { id },
      );
      return d.task;
    },

    async cancelTask(id) {
      const d = await post<{ cancelTask: Record<string, unknown> }>(
        `mutation Cancel($id: ID!) { cancelTask(id: $id) { ${ERRORS} ... on CancelTaskSuccess { task { ${taskFields(features)} } } } }`,
        { id },
      );
      return outcome(d.cancelTask, (p) => p.task as Task);
    },

    async retryTask(id) {
      const d = await post<{ retryTask: Record<string, unknown> }>(
        `mutation Retry($id: ID!) { retryTask(id: $id) { ${INPUT_ERRORS} ... on RetryTaskSuccess { task { ${taskFields(features)} } } } }`,
        { id },
      );
      return outcome(d.retryTask, (p) => p.task as Task);
    },

    async deleteTask(id) {
      const d = await post<{ deleteTask: Record<string, unknown> }>(`mutation Delete($id: ID!) { deleteTask(id: $id) { ${ERRORS} ... on DeleteTaskSuccess { id } } }`, { id });
      return outcome(d.deleteTask, (p) => p.id as string);
    },

    async stats() {
      const s = features.series;
      const d = await post<{ stats: Omit<Stats, 'series'> & { series?: Record<string, unknown>[] } }>(
        `{ stats { total queued processing completed failed cancelled successRate avgDurationSeconds byProvider { provider total completed failed }${s ? ` ${s.selection}` : ''} } }`,
      );
      const series = s && d.stats.series
        ? d.stats.series.map((p) => ({ label: String(p[s.label] ?? ''), values: Object.fromEntries(s.values.map((v) => [v, Number(p[v] ?? 0)])) }))
        : undefined;
      return { ...d.stats, series };
    },

    async health() {
      const d = await post<{ health: Health }>(`{ health { status db providers { id kind healthy message checkedAt } } }`);
      return d.health;
    },

    watch(filter, sink) {
      if (!ws) {
        let connectedBefore = false;
        ws = createClient({
          url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
          connectionParams: () => auth,
          lazy: true,
          // A filter change unsubscribes and subscribes again at once: keep the socket meanwhile.
          lazyCloseTimeout: 2000,
          // Keep trying while the page is open, at most 10 s apart (graphql-ws's own backoff grows without bound).
          retryAttempts: Infinity,
          retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** retries) + Math.random() * 500)),
          shouldRetry: (event) => !(event && typeof event === 'object' && 'code' in event && (event as CloseEvent).code === 4403),
          on: {
            connected: () => {
              opts.onConnected?.(connectedBefore);
              connectedBefore = true;
            },
            closed: (event) => {
              if (event && typeof event === 'object' && 'code' in event && (event as CloseEvent).code === 4403) opts.onAuthLost?.();
              else opts.onDisconnected?.();
            },
          },
        });
      }
      return ws.subscribe<{ tasksUpdated: Task | null }>(
        { query: `subscription Watch($filter: TaskFilter) { tasksUpdated(filter: $filter) { ${taskFields(features)} } }`, variables: { filter: apiFilter(filter) } },
        {
          next: (m) => {
            if (m.data?.tasksUpdated) sink.next(m.data.tasksUpdated);
          },
          error: (err) => sink.error(err),
          complete: () => {},
        },
      );
    },

    close() {
      void ws?.dispose();
      ws = null;
    },
  };
}
