// Video-task API status words (seed 004) and what they mean for reelay.
import { statusLookup, type StatusMap } from '../status-map.js';
import { UpstreamError } from '../errors.js';
import type { ResultSource, Snapshot } from '../types.js';
import type { TasksApiTask } from './api-types.js';

export type { NormalizedState } from '../status-map.js';

export const statusMap: StatusMap = Object.freeze({
  pending: 'processing',
  processing: 'processing',
  completed: 'completed',
  failed: 'failed',
});

const PROCESSING_MESSAGES: Readonly<Record<string, string>> = { pending: 'queued upstream', processing: 'generating upstream' };

export const mapStatus = statusLookup(statusMap);

/** One upstream task → the normalized snapshot; `resolve` turns the result path into a fetchable source. */
export function toSnapshot(task: TasksApiTask, resolve: (pathOrUrl: string) => ResultSource): Snapshot {
  const upstreamStatus = task.status;
  const state = mapStatus(task.status);
  switch (state) {
    case undefined:
      throw new UpstreamError({ code: 'UPSTREAM_MALFORMED', message: `upstream reported an unknown task status "${task.status.slice(0, 40)}"`, retryable: true, maybeCreated: false });
    case 'processing':
      return { state, progress: null, upstreamStatus, message: PROCESSING_MESSAGES[task.status.trim().toLowerCase()] ?? null };
    case 'failed':
      return { state, code: 'UPSTREAM_FAILED', message: task.error?.trim() || 'the upstream reported the task as failed', upstreamStatus };
    case 'cancelled':
      return { state, message: task.error ?? null, upstreamStatus };
    case 'completed': {
      const result = task.result?.trim();
      if (!result) return { state: 'failed', code: 'UPSTREAM_NO_RESULT', message: 'the upstream reported the task as completed but gave no result path', upstreamStatus };
      return { state, upstreamStatus, result: { source: resolve(result), mediaType: 'VIDEO', durationSeconds: null, width: null, height: null } };
    }
  }
}
