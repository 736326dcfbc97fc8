// Drives one claimed task to its end: submit (once, retrying only what
// provably created nothing), poll at the provider's interval with backoff,
// download the result, and record each step through the state machine.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { knownProviderTaskIds } from '../db/read-tasks.js';
import { tasks, type TaskRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { isUpstreamError, type UpstreamError } from '../providers/errors.js';
import type { HealthMonitor } from '../providers/health.js';
import type { ProviderRegistry, RegisteredProvider } from '../providers/registry.js';
import { capabilityProblem } from '../tasks/capabilities.js';
import type { GenerationRequest, ProviderResult, Snapshot, SubmitOutcome } from '../providers/types.js';
import { storeResult } from '../storage/results.js';
import { backoffMs } from './backoff.js';
import type { ProgressWriter } from './progress-writer.js';
import { takeToken } from './rate-limit.js';
import type { Semaphore } from './semaphore.js';
import { completeTask, failTask, markCancelledUpstream, moveToProvider, recordProgress, recordSubmitAttempt, recordSubmitted } from './transitions.js';

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
  /** Bounds result downloads and probes across all of the runner's tasks. */
  finishSlots: Semaphore;
  /** Hand the task back (shutdown), batched with the runner's other tasks. */
  release: (taskId: string) => Promise<void>;
  log: Logger;
}

const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;
/** Result failures that keep their own code; anything else that cannot be stored is DOWNLOAD_FAILED. */
const RESULT_CODES = new Set(['RESULT_TOO_LARGE', 'RESULT_URL_FORBIDDEN', 'INVALID_RESULT']);
const POLL_BACKOFF_CAP_MS = 60_000;
/**
 * While an upstream reports no change, polls slow down to at most this many
 * times the interval: a finished job is then seen within twice the interval.
 */
const IDLE_POLL_FACTOR = 2;
const LOOKUP_DELAY_MS = 1000;

/** Thrown when a write found the task no longer ours (cancelled, finished, or taken over). */
class Lost extends Error {}

function requestFor(task: TaskRow, filesDir: string, publicUrl?: string): GenerationRequest {
  const img = task.inputImage;
  const file = (f: string) => ({
    kind: 'file' as const,
    path: path.join(filesDir, f),
    contentType: img?.contentType ?? 'application/octet-stream',
    ...(publicUrl ? { publicUrl: `${publicUrl}/files/${f.split('/').map(encodeURIComponent).join('/')}` } : {}),
  });
  return {
    taskId: task.id,
    prompt: task.prompt,
    negativePrompt: task.negativePrompt,
    model: task.model,
    image: !img ? null : img.kind === 'url' ? { kind: 'url', url: img.url! } : file(img.file!),
    ...task.params,
  };
}

export async function runTask(task: TaskRow, env: WorkEnv): Promise<void> {
  const { config, provider } = env.entry;
  const started = task.startedAt?.getTime() ?? Date.now();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new TaskAbort('timeout')), Math.max(0, started + config.timeoutMs - Date.now()));
  const signal = AbortSignal.any([env.signal, timeout.signal]);
  const soft = AbortSignal.any([signal, env.drain]);
  // A client's cancel must not cut a submission off mid-request: the upstream
  // may be creating the task, and only its answer gives the id to cancel it.
  const submitStop = new AbortController();
  const followUnlessCancel = () => {
    const r: unknown = env.signal.reason;
    if (!(r instanceof TaskAbort && r.kind === 'cancelled')) submitStop.abort(r);
  };
  if (env.signal.aborted) followUnlessCancel();
  else env.signal.addEventListener('abort', followUnlessCancel, { once: true });
  const submitSignal = AbortSignal.any([submitStop.signal, timeout.signal]);
  let providerTaskId = task.providerTaskId;
  const must = <T>(row: T | null): T => {
    if (!row) throw new Lost();
    return row;
  };

  try {
    const request = requestFor(task, env.filesDir, env.publicUrl);
    let snap: Snapshot | undefined;
    if (!providerTaskId) {
      const out = await submit(task, request, env, submitSignal, soft, must);
      if (!out) return;
      // Recorded even when a cancel or shutdown arrived meanwhile: a cancelled
      // task then fails this write and its upstream task is cancelled by id.
      providerTaskId = out.providerTaskId;
      must(await recordSubmitted(env.db, task.id, env.owner, config.id, providerTaskId));
      snap = out.snapshot;
    }
    await pollUntilDone(task, providerTaskId, request, snap, env, soft, must);
  } catch (err) {
    const reason = signal.aborted ? signal.reason : soft.aborted ? soft.reason : undefined;
    if (reason instanceof TaskAbort) await onAbort(reason.kind, task, providerTaskId, env);
    else if (err instanceof Lost) await onLost(task, providerTaskId, env);
    else {
      env.log.error({ err, taskId: task.id }, 'unexpected error while working on a task');
      await failTask(env.db, task.id, 'INTERNAL_ERROR', 'reelay hit an unexpected error while working on this task', env.owner).catch(() => {});
    }
  } finally {
    clearTimeout(timer);
    env.signal.removeEventListener('abort', followUnlessCancel);
  }
}

type Must = <T>(row: T | null) => T;

async function submit(task: TaskRow, request: GenerationRequest, env: WorkEnv, signal: AbortSignal, soft: AbortSignal, must: Must): Promise<SubmitOutcome | undefined> {
  const { config, provider } = env.entry;
  const safe = provider.capabilities.resubmitSafe;
  if (task.attempts > 0 && !safe) {
    // An earlier submission was interrupted before it answered: adopt what it created, if listed.
    const seen = await lookUp(request, env, task.submittedAt ?? task.startedAt ?? task.createdAt, soft);
    if (seen?.found) return { providerTaskId: seen.found };
    must(await failTask(env.db, task.id, 'UPSTREAM_UNCERTAIN', `a submission to ${config.id} was interrupted before it answered; it may have created an upstream task, so reelay did not submit it again`, env.owner));
    return undefined;
  }
  const health = env.health.get(config.id);
  if (!health.healthy && (await fallBack(task, env, `${config.id} is unhealthy${health.message ? ` (${health.message})` : ''}`, must))) return undefined;

  for (let attempt = task.attempts + 1; ; attempt++) {
    await rateLimit(env, soft);
    soft.throwIfAborted();
    must(await recordSubmitAttempt(env.db, task.id, env.owner, attempt));
    const sentAt = new Date();
    try {
      const out = await provider.submit(request, { signal });
      void env.health.recordOutcome(config.id, true);
      return out;
    } catch (err) {
      if (signal.aborted || !isUpstreamError(err)) throw err;
      if (err.retryable) void env.health.recordOutcome(config.id, false, err.message);
      if (err.maybeCreated && !safe) {
        // Never pay twice: adopt the task it created when the upstream can list
        // it; otherwise (or when the list shows none yet) give up rather than resubmit.
        const seen = await lookUp(request, env, sentAt, soft);
        if (seen?.found) return { providerTaskId: seen.found };
        const why = seen ? `${config.id} lists no such task yet, but it may still appear` : 'the upstream may have created the task';
        must(await failTask(env.db, task.id, 'UPSTREAM_UNCERTAIN', `${err.message}; ${why}, so reelay did not submit it again`, env.owner));
        return undefined;
      }
      if (!err.retryable || attempt >= env.maxAttempts) {
        if (err.retryable && (await fallBack(task, env, `${config.id} refused it ${attempt} times (${err.message})`, must))) return undefined;
        const suffix = err.retryable ? ` (gave up after ${attempt} attempts)` : '';
        must(await failTask(env.db, task.id, err.code, err.message + suffix, env.owner));
        return undefined;
      }
      const wait = retryDelay(err, attempt, config.pollIntervalMs);
      env.log.warn({ taskId: task.id, provider: config.id, code: err.code, attempt }, 'submission failed, retrying');
      must(await recordProgress(env.db, task.id, env.owner, { progress: null }, `submission failed (${err.message}); retry ${attempt} in ${Math.ceil(wait / 1000)} s`));
      await sleep(wait, undefined, { signal: soft });
    }
  }
}

/** Move a task that never reached its upstream to the first usable fallback provider. */
async function fallBack(task: TaskRow, env: WorkEnv, reason: string, must: Must): Promise<boolean> {
  const tried = [...new Set([...task.triedProviders, task.providerId])];
  const wants = { ...task.params, image: task.inputImage !== null, imageBytes: task.inputImage?.kind === 'file', publicFiles: !!env.publicUrl, model: task.model, negativePrompt: task.negativePrompt };
  for (const id of env.entry.config.fallback) {
    const candidate = env.registry.get(id);
    if (!candidate || tried.includes(id) || !env.health.get(id).healthy) continue;
    if (capabilityProblem(candidate.provider.capabilities, id, wants)) continue;
    must(await moveToProvider(env.db, task.id, env.owner, id, tried, `moved from ${task.providerId} to ${id}: ${reason}`));
    env.log.warn({ taskId: task.id, from: task.providerId, to: id, reason }, 'task moved to fallback provider');
    return true;
  }
  return false;
}

/**
 * For kinds that can list their tasks: did a submission sent at `since` create
 * one? `{ found }` (an id, or null when the list shows none), or undefined when it cannot tell.
 */
async function lookUp(request: GenerationRequest, env: WorkEnv, since: Date, signal: AbortSignal): Promise<{ found: string | null } | undefined> {
  const { provider, config } = env.entry;
  if (!provider.findSubmitted) return undefined;
  const exclude = await knownProviderTaskIds(env.db, config.id, since);
  for (let attempt = 1; attempt <= 3; attempt++) {
    // Give the upstream a moment to finish creating what it may have received.
    await sleep(attempt === 1 ? LOOKUP_DELAY_MS : backoffMs(attempt, 1000, 10_000), undefined, { signal });
    await rateLimit(env, signal);
    try {
      const found = await provider.findSubmitted(request, { since, exclude }, { signal });
      env.log.warn({ provider: config.id, found }, 'looked up a submission with an unknown outcome');
      return { found };
    } catch (err) {
      if (signal.aborted || !isUpstreamError(err)) throw err;
      if (!err.retryable) return undefined;
    }
  }
  return undefined;
}

/** Wait for a request token when the provider has requestsPerMinute. */
async function rateLimit(env: WorkEnv, signal: AbortSignal): Promise<void> {
  const rpm = env.entry.config.requestsPerMinute;
  if (!rpm) return;
  for (;;) {
    const wait = await takeToken(env.db, env.entry.config.id, rpm);
    if (!wait) return;
    await sleep(wait, undefined, { signal });
  }
}

function retryDelay(err: UpstreamError, attempt: number, baseMs: number): number {
  const jittered = backoffMs(attempt, Math.max(500, baseMs), POLL_BACKOFF_CAP_MS);
  return err.retryAfterSeconds !== undefined ? Math.max(jittered, err.retryAfterSeconds * 1000) : jittered;
}

async function pollUntilDone(
  task: TaskRow,
  providerTaskId: string,
  request: GenerationRequest,
  first: Snapshot | undefined,
  env: WorkEnv,
  signal: AbortSignal,
  must: Must,
): Promise<void> {
  const { config, provider } = env.entry;
  const base = config.pollIntervalMs;
  let interval = base;
  let errors = 0;
  let last = { progress: task.progress, upstreamStatus: task.upstreamStatus, bucket: bucketOf(task.progress) };
  let snap = first;

  // Polls keep their rhythm: the next one is due `interval` after the previous one was sent,
  // however long that poll and recording its progress took. The first one comes at a random
  // point of the first interval, so jobs submitted together (a claim takes hundreds) are not
  // polled in lockstep: their requests spread over the interval instead of arriving in bursts.
  let polledAt = Date.now() - Math.floor(Math.random() * interval);
  for (;;) {
    if (!snap) {
      await sleep(Math.max(0, polledAt + interval - Date.now()), undefined, { signal });
      await rateLimit(env, signal);
      polledAt = Date.now();
      try {
        snap = await provider.poll(providerTaskId, { signal, request });
        if (errors) void env.health.recordOutcome(config.id, true);
        errors = 0;
      } catch (err) {
        if (signal.aborted || !isUpstreamError(err)) throw err;
        if (err.retryable) void env.health.recordOutcome(config.id, false, err.message);
        if (!err.retryable) {
          must(await failTask(env.db, task.id, err.code, err.message, env.owner));
          return;
        }
        // A failed poll is not a failed task: keep the upstream id and try later.
        errors++;
        interval = retryDelay(err, errors, base);
        env.log.warn({ taskId: task.id, provider: config.id, code: err.code, errors }, 'poll failed, will poll again');
        if (errors === 1) must(await recordProgress(env.db, task.id, env.owner, { progress: last.progress }, `poll failed (${err.message}); polling again`));
        continue;
      }
    }

    switch (snap.state) {
      case 'processing': {
        const progress = snap.progress === null ? null : Math.min(1, Math.max(0, snap.progress));
        const upstreamStatus = snap.upstreamStatus ?? last.upstreamStatus;
        if (progress !== last.progress || upstreamStatus !== last.upstreamStatus) {
          const bucket = bucketOf(progress);
          const noteworthy = bucket !== last.bucket || upstreamStatus !== last.upstreamStatus;
          interval = base;
          const nextPollAt = new Date(polledAt + interval);
          const kept = await env.progress.record({ taskId: task.id, progress, upstreamStatus, message: noteworthy ? (snap.message ?? upstreamStatus ?? null) : false, nextPollAt });
          if (!kept) throw new Lost();
          last = { progress, upstreamStatus, bucket };
        } else {
          interval = Math.min(Math.round(interval * 1.25), base * IDLE_POLL_FACTOR);
        }
        break;
      }
      case 'completed':
        await finish(task, snap.result, snap.upstreamStatus ?? null, env, signal, must);
        return;
      case 'failed':
        must(await failTask(env.db, task.id, snap.code, snap.message, env.owner, snap.upstreamStatus ?? null));
        return;
      case 'cancelled':
        must(await markCancelledUpstream(env.db, task.id, env.owner, snap.message ?? null));
        return;
    }
    snap = undefined;
  }
}

function bucketOf(progress: number | null): number {
  return progress === null ? -1 : Math.floor(progress * 10);
}

async function finish(task: TaskRow, result: ProviderResult, upstreamStatus: string | null, env: WorkEnv, signal: AbortSignal, must: Must): Promise<void> {
  const { baseUrl, allowHosts } = env.entry.config;
  for (let attempt = 1; ; attempt++) {
    try {
      const stored = await env.finishSlots.run(
        () =>
          storeResult(result, {
            filesDir: env.filesDir,
            taskId: task.id,
            signal,
            maxBytes: env.maxResultBytes,
            maxPixels: env.maxImagePixels,
            timeoutMs: DOWNLOAD_TIMEOUT_MS,
            provider: { baseUrl, allowHosts },
          }),
        signal,
      );
      must(await completeTask(env.db, task.id, env.owner, stored, result.mediaType, upstreamStatus));
      return;
    } catch (err) {
      if (signal.aborted || err instanceof Lost || !isUpstreamError(err)) throw err;
      // Only transient trouble (network, 5xx, a write error) is tried again; a refused URL,
      // a result that is too large or not real media fails at once, with its own code.
      if (!err.retryable || attempt >= env.maxAttempts) {
        const own = RESULT_CODES.has(err.code);
        const suffix = err.retryable ? ` (gave up after ${attempt} attempts)` : '';
        must(await failTask(env.db, task.id, own ? err.code : 'DOWNLOAD_FAILED', own ? err.message : `the result could not be downloaded: ${err.message}${suffix}`, env.owner, upstreamStatus));
        return;
      }
      await sleep(backoffMs(attempt, 1000, 30_000), undefined, { signal });
    }
  }
}

async function cancelUpstream(providerTaskId: string | null, env: WorkEnv): Promise<void> {
  const { provider } = env.entry;
  if (!providerTaskId || !provider.capabilities.cancel) return;
  try {
    await provider.cancel(providerTaskId, { signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    env.log.warn({ err: isUpstreamError(err) ? err.message : err, provider: env.entry.config.id, providerTaskId }, 'upstream cancel failed');
  }
}

async function onAbort(kind: AbortKind, task: TaskRow, providerTaskId: string | null, env: WorkEnv): Promise<void> {
  switch (kind) {
    case 'cancelled':
      return cancelUpstream(providerTaskId, env);
    case 'timeout': {
      const secs = Math.round(env.entry.config.timeoutMs / 1000);
      await failTask(env.db, task.id, 'TIMEOUT', `no result from ${env.entry.config.id} within ${secs} s`, env.owner).catch(() => {});
      return cancelUpstream(providerTaskId, env);
    }
    case 'shutdown':
      await env.release(task.id);
      return;
    case 'lease-lost':
      return;
  }
}

async function onLost(task: TaskRow, providerTaskId: string | null, env: WorkEnv): Promise<void> {
  const [row] = await env.db.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, task.id));
  if (row?.status === 'CANCELLED') await cancelUpstream(providerTaskId, env);
}
