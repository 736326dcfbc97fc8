// The poll step: ask the upstream how a submitted task is doing, at the
// provider's interval while it reports progress (slowing to at most twice the
// interval while nothing changes), record progress in the runner's batches,
// and hand a finished task to the finish step. A failed poll is not a failed
// task: only a permanent answer or the provider's timeout ends it.
import { isUpstreamError } from '../providers/errors.js';
import type { Snapshot } from '../providers/types.js';
import { finishStep } from './finish-step.js';
import { Lost, must, type TaskRun } from './task-run.js';
import { failTask, markCancelledUpstream, recordProgress } from './transitions.js';
import { rateLimit, retryDelay } from './upstream-pace.js';

/**
 * While an upstream reports no change, polls slow down to at most this many
 * times the interval: a finished job is then seen within twice the interval.
 */
const IDLE_POLL_FACTOR = 2;

export async function pollStep(run: TaskRun, providerTaskId: string, first: Snapshot | undefined): Promise<void> {
  const { task, request, env } = run;
  const signal = run.soft;
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
  const nap = napper(signal);
  try {
    for (;;) {
      if (!snap) {
        await nap(Math.max(0, polledAt + interval - Date.now()));
        // Polls that came due together (after the event loop was held up) start a few per turn.
        await env.turns.pass();
        if (config.requestsPerMinute) await rateLimit(env, signal);
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
          await finishStep(run, snap.result, snap.upstreamStatus ?? null);
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
  } finally {
    nap.done();
  }
}

/**
 * Sleeps between polls that share one abort listener for the whole poll loop
 * (timers/promises' sleep adds and removes one, with a bound function and a
 * promise of its own, per poll). A sleep rejects with the signal's reason when
 * it is aborted; `done()` removes the listener.
 */
function napper(signal: AbortSignal): ((ms: number) => Promise<void>) & { done(): void } {
  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  const nap = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
    });
  return Object.assign(nap, { done: () => signal.removeEventListener('abort', onAbort) });
}

function bucketOf(progress: number | null): number {
  return progress === null ? -1 : Math.floor(progress * 10);
}
