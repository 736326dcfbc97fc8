// The finish step: store a finished task's result (downloaded or moved into
// reelay's storage and checked to be the media it claims, within the runner's
// bounded finishing slots) and complete the task; transient download trouble
// is tried again, anything else fails the task with its own code.
import { setTimeout as sleep } from 'node:timers/promises';
import { isUpstreamError } from '../providers/errors.js';
import type { ProviderResult } from '../providers/types.js';
import { storeResult } from '../storage/results.js';
import { priceTask } from '../tasks/price.js';
import { backoffMs } from './backoff.js';
import { held, Lost, must, type TaskRun } from './task-run.js';
import { failTask } from './transitions.js';

const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;
/** Result failures that keep their own code; anything else that cannot be stored is DOWNLOAD_FAILED. */
const RESULT_CODES = new Set(['RESULT_TOO_LARGE', 'RESULT_URL_FORBIDDEN', 'INVALID_RESULT']);

export async function finishStep(run: TaskRun, result: ProviderResult, upstreamStatus: string | null): Promise<void> {
  const { task, env } = run;
  const signal = run.soft;
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
        { signal },
      );
      const requested = run.request.durationSeconds ?? env.entry.provider.capabilities.defaults?.durationSeconds;
      const cost = priceTask(env.entry.config.pricing, task.model, stored.durationSeconds, requested);
      held(await env.batches.complete({ taskId: task.id, result: stored, mediaType: result.mediaType, upstreamStatus, cost }));
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
