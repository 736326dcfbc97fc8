// Video Generation API task status words (seed 000) and what they mean for reelay.
import { statusLookup, type StatusMap } from '../status-map.js';
import { UpstreamError } from '../errors.js';
import type { ProviderResult, Snapshot } from '../types.js';
import type { VideogenTask } from './api-types.js';

export type { NormalizedState } from '../status-map.js';

export const statusMap: StatusMap = Object.freeze({
  pending: 'processing',
  processing: 'processing',
  completed: 'completed',
  failed: 'failed',
});

const PROCESSING_MESSAGES: Readonly<Record<string, string>> = { pending: 'queued upstream', processing: 'generating upstream' };

export const mapStatus = statusLookup(statusMap);

/** "1920x1080" → {width, height}; nulls when absent or unreadable. */
export function parseResolution(resolution: string | null | undefined): { width: number | null; height: number | null } {
  const m = /^\s*(\d{1,5})\s*[x×*]\s*(\d{1,5})\s*$/i.exec(resolution ?? '');
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: null, height: null };
}

export function unknownStatus(word: string): UpstreamError {
  return new UpstreamError({ code: 'UPSTREAM_MALFORMED', message: `upstream reported an unknown task status "${word.slice(0, 40)}"`, retryable: true, maybeCreated: false });
}

/** One upstream task → the normalized snapshot; `resolveUrl` turns the upstream's video_url into a fetchable source. */
export function toSnapshot(task: VideogenTask, resolveUrl: (url: string) => ProviderResult['source']): Snapshot {
  const upstreamStatus = task.status;
  const state = mapStatus(task.status);
  switch (state) {
    case undefined:
      throw unknownStatus(task.status);
    case 'processing':
      return { state, progress: null, upstreamStatus, message: PROCESSING_MESSAGES[task.status.trim().toLowerCase()] ?? null };
    case 'failed':
      return { state, code: 'UPSTREAM_FAILED', message: task.error?.trim() || 'the upstream reported the task as failed', upstreamStatus };
    case 'cancelled':
      return { state, message: task.error ?? null, upstreamStatus };
    case 'completed': {
      const url = task.result?.video_url?.trim();
      if (!url) return { state: 'failed', code: 'UPSTREAM_NO_RESULT', message: 'the upstream reported the task as completed but gave no video_url', upstreamStatus };
      const { width, height } = parseResolution(task.result?.resolution);
      return {
        state,
        upstreamStatus,
        result: { source: resolveUrl(url), mediaType: 'VIDEO', durationSeconds: task.result?.duration ?? null, width, height },
      };
    }
  }
}
