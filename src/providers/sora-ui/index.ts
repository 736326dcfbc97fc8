// Adapter for the Sora UI backend's video-task API (seed 002): JWT Bearer auth,
// {success, data, message} envelopes, QUEUED → PROCESSING → COMPLETED/FAILED/
// CANCELLED with 0–100 progress, and a content endpoint for the result URL.
import { z } from 'zod';
import { bearer, downloadSource, remoteCapabilities } from '../remote.js';
import { UpstreamError, isUpstreamError, permanentError } from '../errors.js';
import { joinUrl, parseUpstream, upstreamJson } from '../http.js';
import { readImageBytes, toDataUrl } from '../image-bytes.js';
import type {
  CallContext,
  GenerationRequest,
  MediaType,
  PollContext,
  Provider,
  ProviderCapabilities,
  ProviderConfig,
  ProviderFactory,
  Snapshot,
  SubmitOutcome,
} from '../types.js';
import { matchSubmitted, zonedTime } from '../lookup.js';
import { type SoraTask, soraContentEnvelopeSchema, soraTaskListSchema, soraErrorCode, soraErrorMessage, soraErrorSchema, soraTaskEnvelopeSchema } from './api-types.js';
import { mapStatus } from './status.js';

export { statusMap } from './status.js';

export const SORA_UI_MODELS = ['sora_video2', 'sora_video2-portrait', 'sora_video2-landscape', 'gemini-2.5-flash-imagen', 'gemini-2.5-flash-imagen-edit'] as const;

const optionsSchema = z.looseObject({
  /** Model used when a request names none; default "sora_video2". */
  defaultModel: z.string().min(1).optional(),
  /** Sent as `watermark`; default false. */
  watermark: z.boolean().optional(),
  /** Sent as `apiConfigId` (which upstream API configuration the backend should use). */
  apiConfigId: z.string().min(1).optional(),
  /** Largest reference image accepted, in bytes; default 10 MB. */
  maxImageBytes: z.number().int().positive().optional(),
});
export type SoraUiOptions = z.infer<typeof optionsSchema>;

/** Image models ("…-imagen", "…-imagen-edit") produce a still image instead of a video. */
export function isImageModel(model: string | null | undefined): boolean {
  return !!model && /-imagen(-|$)/.test(model);
}

function parseSize(size: string | null | undefined): { width: number | null; height: number | null } {
  const m = size ? /^\s*(\d+)\s*[x×*]\s*(\d+)\s*$/i.exec(size) : null;
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: null, height: null };
}


function failureMessage(task: SoraTask): string {
  return task.errorMessage || task.error || task.failReason || task.message || `upstream task ${task.videoId} failed`;
}

export const createSoraUiProvider: ProviderFactory = (config: ProviderConfig, deps): Provider => {
  if (!config.baseUrl) throw new Error(`provider ${config.id}: baseUrl is required for kind "sora-ui"`);
  const baseUrl = config.baseUrl;
  const parsedOptions = optionsSchema.safeParse(config.options);
  if (!parsedOptions.success) throw new Error(`provider ${config.id}: invalid options: ${parsedOptions.error.message}`);
  const options = parsedOptions.data;
  const timeoutMs = config.requestTimeoutMs ?? 30_000;
  const defaultModel = options.defaultModel ?? 'sora_video2';
  const models = [...new Set<string>([...SORA_UI_MODELS, ...config.models, defaultModel])];
  const authHeaders: Record<string, string> = bearer(config.apiKey);

  const capabilities: ProviderCapabilities = remoteCapabilities({
    textToVideo: true,
    imageToVideo: true,
    cancel: true,
    progress: true,
    durations: { min: 1, max: 60 },
    customSize: true,
    aspectRatios: ['16:9', '9:16', '1:1'],
    models,
    defaults: { model: defaultModel },
  });

  const url = (path: string) => joinUrl(baseUrl, path);
  const taskPath = (id: string) => `api/video/tasks/${encodeURIComponent(id)}`;
  const call = (path: string, ctx: CallContext, method: 'GET' | 'POST' = 'GET', body?: unknown) =>
    upstreamJson(url(path), { method, body, headers: authHeaders, timeoutMs, signal: ctx.signal, errorMessage: soraErrorMessage, errorCode: soraErrorCode });

  /** A 2xx answer that still says {success:false}: an explicit refusal. */
  function refusal(body: unknown, what: string): UpstreamError | undefined {
    const r = soraErrorSchema.safeParse(body);
    if (!r.success) return undefined;
    return new UpstreamError({ code: soraErrorCode(body) ?? 'UPSTREAM_REJECTED', message: r.data.message || `upstream refused the ${what}`, retryable: false, maybeCreated: false });
  }

  /** GET on a task resource; a 404 means the task is gone for good. */
  async function getTask(id: string, path: string, ctx: CallContext): Promise<unknown> {
    try {
      return await call(path, ctx);
    } catch (err) {
      if (isUpstreamError(err) && err.status === 404) throw permanentError('UPSTREAM_TASK_NOT_FOUND', `upstream task ${id} no longer exists`, 404);
      throw err;
    }
  }

  async function resultUrl(task: SoraTask, ctx: CallContext): Promise<string> {
    if (task.videoUrl) return task.videoUrl;
    const noUrl = () => new UpstreamError({ code: 'UPSTREAM_NO_RESULT', message: `upstream task ${task.videoId} is completed but has no result URL yet`, retryable: true, maybeCreated: false });
    let body: unknown;
    try {
      body = await call(`${taskPath(task.videoId)}/content`, ctx);
    } catch (err) {
      // The task said COMPLETED: a "not found / not completed" here is a race worth another poll.
      if (isUpstreamError(err) && (err.status === 400 || err.status === 404 || err.status === 409)) throw noUrl();
      throw err;
    }
    const content = parseUpstream(soraContentEnvelopeSchema, body, 'task content', { maybeCreated: false });
    if (content.data.url) return content.data.url;
    throw noUrl();
  }

  function toSnapshot(task: SoraTask, state: Exclude<Snapshot['state'], 'completed'>): Snapshot {
    const upstreamStatus = task.status;
    switch (state) {
      case 'processing': {
        const p = typeof task.progress === 'number' && Number.isFinite(task.progress) ? Math.min(1, Math.max(0, task.progress / 100)) : null;
        return { state, progress: p, upstreamStatus, message: task.message ?? null };
      }
      case 'failed':
        return { state, code: 'UPSTREAM_FAILED', message: failureMessage(task), upstreamStatus };
      case 'cancelled':
        return { state, upstreamStatus, message: task.message ?? null };
    }
  }

  async function completed(task: SoraTask, request: GenerationRequest, ctx: CallContext): Promise<Snapshot> {
    const raw = await resultUrl(task, ctx);
    let resolved: string;
    try {
      resolved = new URL(raw, baseUrl.replace(/\/*$/, '/')).toString();
    } catch {
      throw new UpstreamError({ code: 'UPSTREAM_MALFORMED', message: `upstream task ${task.videoId} has an unusable result URL`, retryable: true, maybeCreated: false });
    }
    const declared = task.mediaType?.toUpperCase();
    const mediaType: MediaType = declared === 'IMAGE' || declared === 'VIDEO' ? declared : isImageModel(task.model ?? request.model ?? defaultModel) ? 'IMAGE' : 'VIDEO';
    const { width, height } = parseSize(task.size);
    return {
      state: 'completed',
      upstreamStatus: task.status,
      result: {
        source: downloadSource(resolved, baseUrl, config.apiKey),
        mediaType,
        width,
        height,
        durationSeconds: mediaType === 'VIDEO' ? (task.duration ?? null) : null,
      },
    };
  }

  async function toState(task: SoraTask, request: GenerationRequest, ctx: CallContext): Promise<Snapshot> {
    const state = mapStatus(task.status);
    if (!state) throw new UpstreamError({ code: 'UPSTREAM_UNKNOWN_STATUS', message: `upstream task ${task.videoId} has an unknown status "${task.status.slice(0, 40)}"`, retryable: true, maybeCreated: false });
    return state === 'completed' ? completed(task, request, ctx) : toSnapshot(task, state);
  }

  return {
    id: config.id,
    kind: 'sora-ui',
    capabilities,

    async submit(request: GenerationRequest, ctx: CallContext): Promise<SubmitOutcome> {
      const model = request.model || defaultModel;
      if (!models.includes(model)) throw permanentError('UNSUPPORTED_MODEL', `model "${model}" is not offered by ${config.id}`);
      const body: Record<string, unknown> = { prompt: request.prompt, model, watermark: options.watermark ?? false };
      if (request.width && request.height) body.size = `${request.width}x${request.height}`;
      if (request.durationSeconds && !isImageModel(model)) body.duration = request.durationSeconds;
      if (request.aspectRatio) body.aspectRatio = request.aspectRatio;
      if (options.apiConfigId) body.apiConfigId = options.apiConfigId;
      if (request.image) {
        const img = await readImageBytes(request.image, { signal: ctx.signal, maxBytes: options.maxImageBytes, maxPixels: deps.maxImagePixels, timeoutMs, allowHosts: config.allowHosts });
        body.referenceImage = toDataUrl(img.bytes, img.contentType);
      }
      const answer = await call('api/video/tasks', ctx, 'POST', body);
      const refused = refusal(answer, 'task');
      if (refused) throw refused;
      const created = parseUpstream(soraTaskEnvelopeSchema, answer, 'task creation answer', { maybeCreated: true });
      const task = created.data;
      const state = mapStatus(task.status);
      // Only a still-running task is reported right away; anything else is read on the first poll.
      const snapshot = state === 'processing' ? toSnapshot(task, state) : undefined;
      return snapshot ? { providerTaskId: task.videoId, snapshot } : { providerTaskId: task.videoId };
    },

    async poll(providerTaskId: string, ctx: PollContext): Promise<Snapshot> {
      const answer = await getTask(providerTaskId, taskPath(providerTaskId), ctx);
      const refused = refusal(answer, 'status query');
      if (refused) throw refused;
      const { data } = parseUpstream(soraTaskEnvelopeSchema, answer, 'task status', { maybeCreated: false });
      return toState(data, ctx.request, ctx);
    },

    /** The user's newest tasks, after a submission with an unknown outcome. */
    async findSubmitted(request, opts, ctx): Promise<string | null> {
      const answer = await call('api/video/tasks?page=1&pageSize=50&orderBy=createdAt&order=desc', ctx);
      const { tasks } = parseUpstream(soraTaskListSchema, answer, 'task list', { maybeCreated: false }).data;
      return matchSubmitted(
        tasks.map((t) => ({ id: t.videoId, prompt: t.prompt, model: t.model, createdAt: zonedTime(t.createdAt) })),
        { prompt: request.prompt, model: request.model || defaultModel, since: opts.since, exclude: opts.exclude },
      );
    },

    async cancel(providerTaskId: string, ctx: CallContext): Promise<void> {
      try {
        await call(`${taskPath(providerTaskId)}/cancel`, ctx, 'POST');
      } catch (err) {
        // Nothing left to cancel.
        if (isUpstreamError(err) && err.status === 404) return;
        throw err;
      }
    },
  };
};
