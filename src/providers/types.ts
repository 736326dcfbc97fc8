// The contract between the runner and every upstream adapter. Providers never
// touch the database: they turn a normalized request into upstream calls and
// upstream answers into a normalized snapshot.

export type MediaType = 'VIDEO' | 'IMAGE';

/** What a provider can do; shown by the `providers` query and checked before submission. */
export interface ProviderCapabilities {
  textToVideo: boolean;
  imageToVideo: boolean;
  /** The upstream takes input images only as URLs (no uploads or base64). */
  imageUrlOnly?: boolean;
  /** Can the upstream task be cancelled (or deleted) upstream? */
  cancel: boolean;
  /** Does the upstream report numeric progress? */
  progress: boolean;
  negativePrompt: boolean;
  seed: boolean;
  /** Allowed output durations in seconds, null when the upstream decides. */
  durations: { min: number; max: number } | null;
  /** Explicit width/height accepted. */
  customSize: boolean;
  /** Aspect ratios accepted, empty when not configurable. */
  aspectRatios: string[];
  /** Model names; empty when the upstream has one implicit model. */
  models: string[];
  /**
   * Submitting again after an unknown outcome is harmless (no second bill),
   * e.g. the built-in renderer. Remote kinds are false: see "never pay twice".
   */
  resubmitSafe: boolean;
  /**
   * What the adapter uses when a request leaves a field out, where it decides
   * (not the upstream): requests that differ only by spelling a default out are
   * the same request for an idempotency key.
   */
  defaults?: { model?: string; durationSeconds?: number };
}

/** Input image as the runner hands it over: already validated by reelay. */
export type ImageInput =
  | { kind: 'url'; url: string }
  /** `publicUrl`: where reelay itself serves the file, when REELAY_PUBLIC_URL is set. */
  | { kind: 'file'; path: string; contentType: string; publicUrl?: string };

export interface GenerationRequest {
  /** reelay's task id; useful for naming local files and logs. */
  taskId: string;
  prompt: string;
  negativePrompt?: string | null;
  model?: string | null;
  image?: ImageInput | null;
  durationSeconds?: number | null;
  width?: number | null;
  height?: number | null;
  aspectRatio?: string | null;
  seed?: number | null;
}

/** Where the finished media can be fetched from. */
export type ResultSource =
  | { kind: 'url'; url: string; headers?: Record<string, string> }
  | { kind: 'file'; path: string };

export interface ProviderResult {
  source: ResultSource;
  mediaType: MediaType;
  contentType?: string | null;
  width?: number | null;
  height?: number | null;
  durationSeconds?: number | null;
}

/** The one normalized view of an upstream task. */
export type Snapshot =
  | { state: 'processing'; progress: number | null; message?: string | null; upstreamStatus?: string | null }
  | { state: 'completed'; result: ProviderResult; message?: string | null; upstreamStatus?: string | null }
  | { state: 'failed'; code: string; message: string; upstreamStatus?: string | null }
  | { state: 'cancelled'; message?: string | null; upstreamStatus?: string | null };

export interface SubmitOutcome {
  /** The upstream's id of the task; stored before anything else happens. */
  providerTaskId: string;
  /** Synchronous upstreams answer with the final state right away. */
  snapshot?: Snapshot;
}

export interface CallContext {
  /** Aborted on cancel, timeout or shutdown; adapters pass it to fetch / child processes. */
  signal: AbortSignal;
}

export interface PollContext extends CallContext {
  /** The original request: lets in-process providers resume after a restart. */
  request: GenerationRequest;
}

export interface Provider {
  readonly id: string;
  readonly kind: string;
  readonly capabilities: ProviderCapabilities;
  submit(request: GenerationRequest, ctx: CallContext): Promise<SubmitOutcome>;
  poll(providerTaskId: string, ctx: PollContext): Promise<Snapshot>;
  /**
   * Kinds whose upstream lists tasks implement this: after a submission whose
   * outcome is unknown (timeout, reset), find the task it created — or null
   * when the list proves it created none. Tasks in `exclude` belong to others.
   */
  findSubmitted?(request: GenerationRequest, opts: { since: Date; exclude: ReadonlySet<string> }, ctx: CallContext): Promise<string | null>;
  /** Best effort; only called when `capabilities.cancel`. */
  cancel(providerTaskId: string, ctx: CallContext): Promise<void>;
  /** true/false from an upstream health endpoint; undefined when the kind has none. */
  health?(ctx: CallContext): Promise<boolean>;
  close?(): Promise<void>;
}

/** The validated provider entry from the config file. */
export interface ProviderConfig {
  id: string;
  kind: string;
  baseUrl?: string;
  apiKey?: string;
  models: string[];
  maxConcurrency: number;
  pollIntervalMs: number;
  timeoutMs: number;
  requestTimeoutMs?: number;
  requestsPerMinute?: number;
  fallback: string[];
  allowHosts: string[];
  options: Record<string, unknown>;
  /** What a finished task costs (src/tasks/price.ts); omitted: tasks are not priced. */
  pricing?: Pricing;
}

/** One price: per finished video (or image) and/or per second of it; both add up. */
export interface Price {
  perVideo?: number;
  perSecond?: number;
}

/** A provider's prices in one currency (ISO 4217 code); `perModel` replaces the provider's price for that model. */
export interface Pricing extends Price {
  currency: string;
  perModel?: Record<string, Price>;
}

export interface ProviderDeps {
  /** Scratch directory the provider may write into (renders, temp files). */
  workDir: string;
  /** REELAY_MAX_IMAGE_PIXELS: largest input image (width × height) reelay decodes; 40 MP when omitted. */
  maxImagePixels?: number;
  /** REELAY_RENDER_STALL_MS: a local render without progress this long is killed; 30 s when omitted. */
  renderStallMs?: number;
}

export type ProviderFactory = (config: ProviderConfig, deps: ProviderDeps) => Provider;
