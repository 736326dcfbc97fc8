// Adapter for the "Video Generation API" (seed 000): asynchronous tasks behind a
// {code, message, data} envelope. Create with POST /api/v1/videos/tasks, poll
// GET /api/v1/videos/tasks/{id}, health at GET /api/v1/videos/health.
// The doc has no auth and no cancel; an API key, when configured, is sent as Bearer.
import { bearer, downloadSource, remoteCapabilities, resolveAgainst } from '../remote.js';
export { resolveAgainst } from '../remote.js';
import { isUpstreamError, permanentError } from '../errors.js';
import { readImageBytes, toDataUrl } from '../image-bytes.js';
import { joinUrl, parseUpstream, upstreamJson } from '../http.js';
import type { CallContext, GenerationRequest, PollContext, Provider, ProviderCapabilities, ProviderConfig, ProviderFactory, ResultSource, Snapshot, SubmitOutcome } from '../types.js';
import { envelopeSchema, healthSchema, taskSchema, type VideogenTask } from './api-types.js';
import { toSnapshot } from './status.js';

export { statusMap } from './status.js';

export const KIND = 'videogen-v1';
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** `options.acceptDataUrl: true` sends uploaded images inline as data: URLs (the doc asks for public HTTPS URLs). */
export interface VideogenV1Options {
  acceptDataUrl: boolean;
}

export function videogenV1Options(options: Record<string, unknown>): VideogenV1Options {
  return { acceptDataUrl: options.acceptDataUrl === true };
}

export const createVideogenV1Provider: ProviderFactory = (config) => new VideogenV1Provider(config);

class VideogenV1Provider implements Provider {
  readonly kind = KIND;
  readonly id: string;
  readonly capabilities: ProviderCapabilities;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly options: VideogenV1Options;

  constructor(private readonly config: ProviderConfig) {
    if (!config.baseUrl) throw new Error(`provider ${config.id}: baseUrl is required for kind ${KIND}`);
    this.id = config.id;
    this.baseUrl = config.baseUrl;
    this.timeoutMs = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.options = videogenV1Options(config.options);
    this.capabilities = remoteCapabilities({
      textToVideo: true,
      imageToVideo: true,
      imageUrlOnly: !this.options.acceptDataUrl,
      models: [...config.models],
    });
  }

  private headers(): Record<string, string> {
    return bearer(this.config.apiKey);
  }

  private url(path: string): string {
    return joinUrl(this.baseUrl, path);
  }

  async submit(request: GenerationRequest, ctx: CallContext): Promise<SubmitOutcome> {
    const body: { prompt: string; image_url?: string } = { prompt: request.prompt };
    if (request.image) body.image_url = await this.imageUrl(request.image, ctx.signal);
    const answer = await upstreamJson(this.url('/api/v1/videos/tasks'), { method: 'POST', headers: this.headers(), body, timeoutMs: this.timeoutMs, signal: ctx.signal });
    const task = unwrap(answer, 'task creation answer', true);
    return { providerTaskId: task.id };
  }

  private async imageUrl(image: NonNullable<GenerationRequest['image']>, signal: AbortSignal): Promise<string> {
    if (image.kind === 'url') return image.url;
    // An uploaded image: reelay's own public copy, else inline when the upstream takes data: URLs.
    if (image.publicUrl) return image.publicUrl;
    if (!this.options.acceptDataUrl) {
      throw permanentError('IMAGE_URL_REQUIRED', `${this.id} needs the input image as a public URL; pass an image URL, set REELAY_PUBLIC_URL so reelay can serve uploads, or enable options.acceptDataUrl if this upstream accepts data: URLs`);
    }
    const { bytes, contentType } = await readImageBytes(image, { signal });
    return toDataUrl(bytes, contentType);
  }

  async poll(providerTaskId: string, ctx: PollContext): Promise<Snapshot> {
    let answer: unknown;
    try {
      answer = await upstreamJson(this.url(`/api/v1/videos/tasks/${encodeURIComponent(providerTaskId)}`), { headers: this.headers(), timeoutMs: this.timeoutMs, signal: ctx.signal });
    } catch (err) {
      if (isUpstreamError(err) && err.status === 404) throw permanentError('UPSTREAM_TASK_NOT_FOUND', `upstream task ${providerTaskId} no longer exists`, 404);
      throw err;
    }
    return toSnapshot(unwrap(answer, 'task status', false), (url) => this.resultSource(url));
  }

  /** The doc has no cancel endpoint; never called since capabilities.cancel is false. */
  async cancel(): Promise<void> {}

  async health(ctx: CallContext): Promise<boolean> {
    const answer = await upstreamJson(this.url('/api/v1/videos/health'), { headers: this.headers(), timeoutMs: this.timeoutMs, signal: ctx.signal });
    return parseUpstream(healthSchema, answer, 'health answer', { maybeCreated: false }).status === 'healthy';
  }

  private resultSource(value: string): ResultSource {
    return downloadSource(resolveAgainst(this.baseUrl, value), this.baseUrl, this.config.apiKey);
  }
}

/** Check the envelope: code ≠ 0 is the upstream refusing, with its message; then the task inside. */
function unwrap(answer: unknown, what: string, maybeCreated: boolean): VideogenTask {
  const envelope = parseUpstream(envelopeSchema, answer, what, { maybeCreated });
  if (envelope.code !== 0) {
    throw permanentError('UPSTREAM_REJECTED', envelope.message?.trim() || `the upstream answered with code ${envelope.code}`);
  }
  return parseUpstream(taskSchema, envelope.data, what, { maybeCreated });
}

