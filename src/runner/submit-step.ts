// The submit step: send a claimed task to its upstream exactly once. Only a
// refusal that provably created nothing (connection refused, 429/503) is
// retried, with backoff; after an unknown outcome the upstream's own list is
// consulted (kinds that have one) and otherwise the task fails rather than
// paying twice. An unhealthy or refusing provider hands the task to a fallback.
import { setTimeout as sleep } from 'node:timers/promises';
import { knownProviderTaskIds } from '../db/read-tasks.js';
import { isUpstreamError } from '../providers/errors.js';
import type { SubmitOutcome } from '../providers/types.js';
import { capabilityProblem } from '../tasks/capabilities.js';
import { backoffMs } from './backoff.js';
import { held, must, type TaskRun } from './task-run.js';
import { failTask, moveToProvider, recordProgress } from './transitions.js';
import { rateLimit, retryDelay } from './upstream-pace.js';

const LOOKUP_DELAY_MS = 1000;

export async function submitStep(run: TaskRun): Promise<SubmitOutcome | undefined> {
  const { task, request, env, soft } = run;
  const signal = run.submitSignal;
  const { config, provider } = env.entry;
  const safe = provider.capabilities.resubmitSafe;
  if (task.attempts > 0 && !safe) {
    // An earlier submission was interrupted before it answered: adopt what it created, if listed.
    const seen = await lookUp(run, task.submittedAt ?? task.startedAt ?? task.createdAt, soft);
    if (seen?.found) return { providerTaskId: seen.found };
    must(await failTask(env.db, task.id, 'UPSTREAM_UNCERTAIN', `a submission to ${config.id} was interrupted before it answered; it may have created an upstream task, so reelay did not submit it again`, env.owner));
    return undefined;
  }
  const health = env.health.get(config.id);
  if (!health.healthy && (await fallBack(run, `${config.id} is unhealthy${health.message ? ` (${health.message})` : ''}`))) return undefined;

  for (let attempt = task.attempts + 1; ; attempt++) {
    await rateLimit(env, soft);
    soft.throwIfAborted();
    held(await env.batches.recordSubmitAttempt({ taskId: task.id, attempts: attempt, submittedAt: new Date() }));
    // A batch of attempts comes back at once: its submissions go out a few per turn of the event loop.
    await env.turns.pass();
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
        const seen = await lookUp(run, sentAt, soft);
        if (seen?.found) return { providerTaskId: seen.found };
        const why = seen ? `${config.id} lists no such task yet, but it may still appear` : 'the upstream may have created the task';
        must(await failTask(env.db, task.id, 'UPSTREAM_UNCERTAIN', `${err.message}; ${why}, so reelay did not submit it again`, env.owner));
        return undefined;
      }
      if (!err.retryable || attempt >= env.maxAttempts) {
        if (err.retryable && (await fallBack(run, `${config.id} refused it ${attempt} times (${err.message})`))) return undefined;
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
async function fallBack(run: TaskRun, reason: string): Promise<boolean> {
  const { task, env } = run;
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
async function lookUp(run: TaskRun, since: Date, signal: AbortSignal): Promise<{ found: string | null } | undefined> {
  const { request, env } = run;
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
