// What the steps of a task's work share: the environment the runner gives
// (database, provider, limits, batches), the TaskRun context of one claimed
// task (its row, its request, its signals, its upstream id once submitted),
// and how an interruption or a lost task is told apart.
import type { Db } from '../db/client.js';
import type { TaskRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { HealthMonitor } from '../providers/health.js';
import type { ProviderRegistry, RegisteredProvider } from '../providers/registry.js';
import type { GenerationRequest } from '../providers/types.js';
import type { ProgressWriter } from './progress-writer.js';
import type { Slots } from '../slots.js';
import type { FileUrlSigning } from '../storage/signed-urls.js';
import type { TurnGate } from './turn-gate.js';
import type { TransitionBatches } from './write-batches.js';

export type AbortKind = 'cancelled' | 'shutdown' | 'lease-lost' | 'timeout';

/** The reason given to a task's AbortController. */
export class TaskAbort extends Error {
  constructor(readonly kind: AbortKind) {
    super(`task ${kind}`);
  }
}

export interface WorkEnv {
  db: Db;
  owner: string;
  entry: RegisteredProvider;
  registry: ProviderRegistry;
  health: HealthMonitor;
  filesDir: string;
  /** REELAY_PUBLIC_URL: lets upstreams that need image URLs fetch uploads from reelay. */
  publicUrl?: string;
  /** Signed links (REELAY_FILE_URL_*): the image links upstreams get are signed, valid for at least the task's timeout. */
  fileUrls?: FileUrlSigning;
  maxAttempts: number;
  /** Largest result stored (REELAY_MAX_RESULT_BYTES). */
  maxResultBytes: number;
  /** Largest frame of an image result decoded (REELAY_MAX_IMAGE_PIXELS). */
  maxImagePixels: number;
  /** Aborted by the runner (cancel, shutdown, lease lost). */
  signal: AbortSignal;
  /**
   * Aborted when the runner starts shutting down: waits and polls stop at once,
   * but a submission already on the wire is left to finish (until `signal`),
   * since an interrupted one could not be sent again.
   */
  drain: AbortSignal;
  /** The runner's batched progress writes. */
  progress: ProgressWriter;
  /** The runner's batched submission and completion writes. */
  batches: TransitionBatches;
  /** Bounds result downloads and probes across all of the runner's tasks. */
  finishSlots: Slots;
  /** Spreads polls and submissions that start together over turns of the event loop. */
  turns: TurnGate;
  /** Hand the task back (shutdown), batched with the runner's other tasks. */
  release: (taskId: string) => Promise<void>;
  log: Logger;
}

/** One claimed task being worked on: what every step reads. */
export interface TaskRun {
  task: TaskRow;
  env: WorkEnv;
  request: GenerationRequest;
  /** Cancel, shutdown, lost lease or the provider's timeout: stops everything. */
  signal: AbortSignal;
  /** `signal` or the start of a shutdown: waits and polls stop at once. */
  soft: AbortSignal;
  /** For the submission on the wire: not cut off by a client's cancel (only its answer names the task to cancel). */
  submitSignal: AbortSignal;
}

/** Thrown when a write found the task no longer ours (cancelled, finished, or taken over). */
export class Lost extends Error {}

/** A batched guarded write that did not match (the task is no longer ours) is Lost. */
export function held(kept: boolean): void {
  if (!kept) throw new Lost();
}

/** The row a guarded write returned, or Lost when the guard did not match. */
export function must<T>(row: T | null): T {
  if (!row) throw new Lost();
  return row;
}
