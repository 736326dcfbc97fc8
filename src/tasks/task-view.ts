// A task as the API shows it (VideoTask's fields, as src/schema/task.ts
// resolves them), as plain JSON: the `data` of webhook deliveries. Fields that
// need more than the row (events, queuePosition, owner) are left out;
// `retryOf` is the id of the task retried. URLs are absolute, on `origin`, and
// signed like the API's when signed file links are configured.
import type { TaskRow } from '../db/schema.js';
import { posterFileOf } from '../storage/posters.js';
import { fileLink, type FileUrlSigning } from '../storage/signed-urls.js';
import type { Money } from '../money.js';
import { shownCost } from './price.js';

export interface TaskViewOptions {
  /** Signed file links (REELAY_FILE_URL_TTL_SECONDS): fresh ones at each call. */
  signing?: FileUrlSigning;
  /** A provider's pricing currency (the cost of an unpriced FAILED or CANCELLED task is 0 in it). */
  currencyOf?: (providerId: string) => string | undefined;
}

export interface TaskView {
  id: string;
  status: TaskRow['status'];
  progress: number | null;
  prompt: string;
  negativePrompt: string | null;
  provider: string;
  model: string | null;
  providerTaskId: string | null;
  upstreamStatus: string | null;
  mediaType: TaskRow['mediaType'];
  params: TaskRow['params'];
  inputImage: { url: string; contentType: string | null } | null;
  result: {
    url: string;
    thumbnailUrl: string | null;
    fileExpired: boolean;
    upstreamUrl: string | null;
    contentType: string | null;
    sizeBytes: number;
    durationSeconds: number | null;
    width: number | null;
    height: number | null;
  } | null;
  error: { code: string; message: string } | null;
  attempts: number;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  completedAt: string | null;
  retryOf: { id: string } | null;
  cost: Money | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function taskView(r: TaskRow, origin: string, { signing, currencyOf = () => undefined }: TaskViewOptions = {}): TaskView {
  const img = r.inputImage;
  const res = r.result;
  const link = (file: string) => fileLink(origin, file, signing);
  const poster = res ? posterFileOf(res) : null;
  return {
    id: r.id,
    status: r.status,
    progress: r.progress,
    prompt: r.prompt,
    negativePrompt: r.negativePrompt,
    provider: r.providerId,
    model: r.model,
    providerTaskId: r.providerTaskId,
    upstreamStatus: r.upstreamStatus,
    mediaType: r.mediaType,
    params: r.params,
    inputImage: img ? { url: img.kind === 'file' ? link(img.file!) : img.url!, contentType: img.contentType ?? null } : null,
    result: res
      ? { url: link(res.file), thumbnailUrl: poster ? link(poster) : null, fileExpired: res.fileExpired === true, upstreamUrl: res.upstreamUrl, contentType: res.contentType, sizeBytes: res.sizeBytes, durationSeconds: res.durationSeconds, width: res.width, height: res.height }
      : null,
    error: r.errorCode ? { code: r.errorCode, message: r.errorMessage ?? '' } : null,
    attempts: r.attempts,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    startedAt: iso(r.startedAt),
    completedAt: iso(r.completedAt),
    retryOf: r.retryOf ? { id: r.retryOf } : null,
    cost: shownCost(r, currencyOf),
  };
}
