// Adapter for a LightX2V video server (seed 003): JSON submission for text
// prompts, multipart submission with `image_file` for image-to-video, status
// polling with 0.0–1.0 progress, and a result found through the status body,
// the /result endpoint (a JSON naming a file, or the video stream itself) or
// the file download endpoint.
import { z } from 'zod';
import { bearer, downloadSource, remoteCapabilities } from '../remote.js';
import { UpstreamError, isUpstreamError, permanentError } from '../errors.js';
import { joinUrl, parseUpstream, upstreamFetch, upstreamJson } from '../http.js';
import { imageExtension } from '../../media/image.js';
import { readImageBytes } from '../image-bytes.js';
import type {
  CallContext,
  GenerationRequest,
  PollContext,
  Provider,
  ProviderCapabilities,
  ProviderConfig,
  ProviderFactory,
  ResultSource,
  Snapshot,
  SubmitOutcome,
} from '../types.js';
import { type LightStatus, lightStatusSchema, lightSubmitSchema, resultPathOf, resultUrlOf, statusWord } from './api-types.js';
import { mapStatus } from './status.js';

export { statusMap } from './status.js';

export const LIGHTX2V_DEFAULTS = { height: 480, width: 832, videoDuration: 5, inferSteps: 4, numFragments: 1 } as const;

const optionsSchema = z.looseObject({
  /** `infer_steps` sent with every task; default 4 (distilled models). */
  inferSteps: z.number().int().min(1).max(1000).optional(),
  /** `num_fragments` sent with every task; default 1. */
  numFragments: z.number().int().min(1).max(100).optional(),
  /** The server supports `DELETE /v1/tasks/{id}`: enables cancel. Default false (undocumented in the API guide). */
  stopEndpoint: z.boolean().optional(),
  /** Largest input image accepted, in bytes; default 10 MB. */
  maxImageBytes: z.number().int().positive().optional(),
});
export type Lightx2vOptions = z.infer<typeof optionsSchema>;

/** Sizes for the common aspect ratios: LightX2V's own default (832×480) is its 16:9. */
const SIZE_BY_RATIO: Readonly<Record<string, { width: number; height: number }>> = {
  '16:9': { width: 832, height: 480 },
  '9:16': { width: 480, height: 832 },
};

/**
 * The output size: explicit width/height, else one derived from aspectRatio
 * (long side 832, short side a multiple of 16), else the documented 832×480.
 */
export function lightx2vSize(request: Pick<GenerationRequest, 'width' | 'height' | 'aspectRatio'>): { width: number; height: number } {
  if (request.width && request.height) return { width: request.width, height: request.height };
  const m = request.aspectRatio ? /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(request.aspectRatio) : null;
  const a = m ? Number(m[1]) : 0;
  const b = m ? Number(m[2]) : 0;
  if (!(a > 0 && b > 0)) return { width: LIGHTX2V_DEFAULTS.width, height: LIGHTX2V_DEFAULTS.height };
  const known = SIZE_BY_RATIO[`${a}:${b}`];
  if (known) return { ...known };
  const long = LIGHTX2V_DEFAULTS.width;
  const short = Math.max(16, Math.round((long * Math.min(a, b)) / Math.max(a, b) / 16) * 16);
  return a >= b ? { width: long, height: short } : { width: short, height: long };
}


/** Path segments encoded one by one; a leading "/" (absolute server path) is kept. */
function encodeFilePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

export const createLightx2vProvider: ProviderFactory = (config: ProviderConfig, deps): Provider => {
  if (!config.baseUrl) throw new Error(`provider ${config.id}: baseUrl is required for kind "lightx2v"`);
  const baseUrl = config.baseUrl;
  const parsedOptions = optionsSchema.safeParse(config.options);
  if (!parsedOptions.success) throw new Error(`provider ${config.id}: invalid options: ${parsedOptions.error.message}`);
  const options = parsedOptions.data;
  const timeoutMs = config.requestTimeoutMs ?? 30_000;
  // The API has no auth of its own; a key is only sent for servers behind an authenticating proxy.
  const authHeaders: Record<string, string> = bearer(config.apiKey);

  const capabilities: ProviderCapabilities = remoteCapabilities({
    textToVideo: true,
    imageToVideo: true,
    cancel: options.stopEndpoint === true,
    progress: true,
    negativePrompt: true,
    seed: true,
    durations: { min: 1, max: 30 },
    defaults: { durationSeconds: LIGHTX2V_DEFAULTS.videoDuration },
    customSize: true,
    models: [...config.models],
  });

  const url = (path: string) => joinUrl(baseUrl, path);
  const taskPath = (id: string) => `v1/tasks/${encodeURIComponent(id)}`;
  const req = (ctx: CallContext) => ({ headers: authHeaders, timeoutMs, signal: ctx.signal });

  const source = (target: string): ResultSource => downloadSource(target, baseUrl, config.apiKey);
  const fileSource = (path: string) => source(url(`v1/files/download/${encodeFilePath(path)}`));

  function notFound(id: string): UpstreamError {
    return permanentError('UPSTREAM_TASK_NOT_FOUND', `upstream task ${id} no longer exists`, 404);
  }

  /** Where the finished video is: named by the status, or found through the result endpoint. */
  async function locateResult(id: string, status: LightStatus, ctx: CallContext): Promise<ResultSource> {
    const direct = resultPathOf(status);
    if (direct) return fileSource(direct);
    const resultUrl = url(`${taskPath(id)}/result`);
    let res: Response;
    try {
      res = await upstreamFetch(resultUrl, { ...req(ctx), headers: { ...authHeaders, accept: 'application/json, video/*;q=0.9, */*;q=0.5' } });
    } catch (err) {
      // 404/405/501: the optional endpoint is missing (or has nothing); anything else is worth another poll.
      if (isUpstreamError(err) && (err.status === 404 || err.status === 405 || err.status === 501)) throw noResult(id);
      throw err;
    }
    const type = res.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? '';
    if (type.startsWith('video/') || type === 'application/octet-stream') {
      // The endpoint streams the video itself: that URL is the result.
      await res.body?.cancel().catch(() => {});
      return source(resultUrl);
    }
    let body: unknown;
    try {
      body = JSON.parse(await res.text());
    } catch {
      throw new UpstreamError({ code: 'UPSTREAM_MALFORMED', message: `upstream task ${id} result is neither JSON nor a video`, retryable: true, maybeCreated: false });
    }
    const path = resultPathOf(body);
    if (path) return fileSource(path);
    const absolute = resultUrlOf(body);
    if (absolute) return source(absolute);
    throw noResult(id);
  }

  function noResult(id: string): UpstreamError {
    return permanentError('UPSTREAM_NO_RESULT', `upstream task ${id} succeeded but neither its status nor its result endpoint names a result file`);
  }

  async function toSnapshot(id: string, status: LightStatus, request: GenerationRequest, ctx: CallContext): Promise<Snapshot> {
    const word = statusWord(status);
    const state = mapStatus(word);
    switch (state) {
      case 'processing': {
        let p = typeof status.progress === 'number' && Number.isFinite(status.progress) ? status.progress : null;
        if (p !== null && p > 1) p = p / 100; // a percentage despite the documented 0.0–1.0
        return { state, progress: p === null ? null : Math.min(1, Math.max(0, p)), upstreamStatus: word, message: status.message ?? null };
      }
      case 'completed':
        return {
          state,
          upstreamStatus: word,
          message: status.message ?? null,
          result: {
            source: await locateResult(id, status, ctx),
            mediaType: 'VIDEO',
            contentType: 'video/mp4',
            ...lightx2vSize(request),
            durationSeconds: videoDuration(request),
          },
        };
      case 'failed':
        return { state, code: 'UPSTREAM_FAILED', message: status.message || status.error || `upstream task ${id} failed`, upstreamStatus: word };
      case 'cancelled':
        return { state, upstreamStatus: word, message: status.message ?? null };
      default:
        throw new UpstreamError({ code: 'UPSTREAM_UNKNOWN_STATUS', message: `upstream task ${id} has an unknown status "${word.slice(0, 40)}"`, retryable: true, maybeCreated: false });
    }
  }

  function videoDuration(request: GenerationRequest): number {
    return request.durationSeconds ? Math.max(1, Math.round(request.durationSeconds)) : LIGHTX2V_DEFAULTS.videoDuration;
  }

  /** The documented task fields, without the image. */
  function taskFields(request: GenerationRequest): Record<string, string | number> {
    const fields: Record<string, string | number> = { prompt: request.prompt };
    if (request.negativePrompt) fields.negative_prompt = request.negativePrompt;
    if (request.seed !== null && request.seed !== undefined) fields.seed = request.seed;
    fields.infer_steps = options.inferSteps ?? LIGHTX2V_DEFAULTS.inferSteps;
    fields.video_duration = videoDuration(request);
    const size = lightx2vSize(request);
    fields.height = size.height;
    fields.width = size.width;
    fields.num_fragments = options.numFragments ?? LIGHTX2V_DEFAULTS.numFragments;
    return fields;
  }

  return {
    id: config.id,
    kind: 'lightx2v',
    capabilities,

    async submit(request: GenerationRequest, ctx: CallContext): Promise<SubmitOutcome> {
      const fields = taskFields(request);
      let answer: unknown;
      if (request.image) {
        // Local files and URL images alike are uploaded: the server cannot see reelay's disk.
        const img = await readImageBytes(request.image, { signal: ctx.signal, maxBytes: options.maxImageBytes, maxPixels: deps.maxImagePixels, timeoutMs, allowHosts: config.allowHosts });
        const form = new FormData();
        for (const [k, v] of Object.entries(fields)) form.append(k, String(v));
        form.append('image_file', new Blob([new Uint8Array(img.bytes)], { type: img.contentType }), `input.${imageExtension(img.contentType)}`);
        answer = await upstreamJson(url('v1/tasks/video/form'), { ...req(ctx), method: 'POST', body: form });
      } else {
        answer = await upstreamJson(url('v1/tasks/video'), { ...req(ctx), method: 'POST', body: fields });
      }
      const created = parseUpstream(lightSubmitSchema, answer, 'task creation answer', { maybeCreated: true });
      const word = (created.status || created.task_status || 'submitted').trim();
      const state = mapStatus(word);
      if (state !== 'processing') return { providerTaskId: created.task_id };
      return { providerTaskId: created.task_id, snapshot: { state, progress: 0, upstreamStatus: word, message: created.message ?? null } };
    },

    async poll(providerTaskId: string, ctx: PollContext): Promise<Snapshot> {
      let answer: unknown;
      try {
        answer = await upstreamJson(url(`${taskPath(providerTaskId)}/status`), req(ctx));
      } catch (err) {
        if (isUpstreamError(err) && err.status === 404) throw notFound(providerTaskId);
        throw err;
      }
      const status = parseUpstream(lightStatusSchema, answer, 'task status', { maybeCreated: false });
      return toSnapshot(providerTaskId, status, ctx.request, ctx);
    },

    async cancel(providerTaskId: string, ctx: CallContext): Promise<void> {
      if (!capabilities.cancel) return;
      try {
        await upstreamFetch(url(taskPath(providerTaskId)), { ...req(ctx), method: 'DELETE' }).then((r) => r.body?.cancel());
      } catch (err) {
        if (isUpstreamError(err) && err.status === 404) return;
        throw err;
      }
    },
  };
};
