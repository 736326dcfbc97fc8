// Adapter for the Grok Imagine video API (seed 001): one synchronous call,
// POST /v1/videos/generations with a Bearer key, answering after 30–120 s with
// the video URL. Image-to-video only; no task lookup, no cancel, no health.
import { bearer, downloadSource, remoteCapabilities, resolveAgainst } from '../remote.js';
import { UpstreamError, permanentError } from '../errors.js';
import { joinUrl, parseUpstream, upstreamJson } from '../http.js';
import { readImageBytes, toDataUrl } from '../image-bytes.js';
import type { CallContext, GenerationRequest, ImageInput, Provider, ProviderCapabilities, ProviderConfig, ProviderFactory, ResultSource, Snapshot, SubmitOutcome } from '../types.js';
import { generationSchema, grokErrorCode } from './api-types.js';
import { mapGrokError, mapStatus } from './status.js';

export { statusMap } from './status.js';

export const KIND = 'grok-imagine';
export const DEFAULT_MODEL = 'grok-imagine-0.9';
/** The upstream answers after 30–120 s: the deadline must cover that. */
const DEFAULT_REQUEST_TIMEOUT_MS = 180_000;

export const createGrokImagineProvider: ProviderFactory = (config) => new GrokImagineProvider(config);

class GrokImagineProvider implements Provider {
  readonly kind = KIND;
  readonly id: string;
  readonly capabilities: ProviderCapabilities;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly config: ProviderConfig) {
    if (!config.baseUrl) throw new Error(`provider ${config.id}: baseUrl is required for kind ${KIND}`);
    this.id = config.id;
    this.baseUrl = config.baseUrl;
    this.timeoutMs = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.capabilities = remoteCapabilities({
      imageToVideo: true,
      models: [...new Set([DEFAULT_MODEL, ...config.models])],
      defaults: { model: DEFAULT_MODEL },
    });
  }

  private headers(): Record<string, string> {
    return bearer(this.config.apiKey);
  }

  async submit(request: GenerationRequest, ctx: CallContext): Promise<SubmitOutcome> {
    if (!request.image) throw permanentError('IMAGE_REQUIRED', `${this.id} turns an image into a video: an input image is required`);
    const body = { image_url: await imageUrl(request.image, ctx.signal, this.config.allowHosts), prompt: request.prompt, model: request.model || DEFAULT_MODEL };
    let answer: unknown;
    try {
      answer = await upstreamJson(joinUrl(this.baseUrl, '/v1/videos/generations'), {
        method: 'POST',
        headers: this.headers(),
        body,
        timeoutMs: this.timeoutMs,
        signal: ctx.signal,
        errorCode: grokErrorCode,
      });
    } catch (err) {
      throw mapGrokError(err);
    }
    const generation = parseUpstream(generationSchema, answer, 'generation answer');
    const status = generation.status ?? 'completed';
    if (mapStatus(status) !== 'completed') {
      throw new UpstreamError({ code: 'UPSTREAM_MALFORMED', message: `upstream answered with status "${status.slice(0, 40)}" instead of "completed"`, retryable: true, maybeCreated: true });
    }
    const snapshot: Snapshot = {
      state: 'completed',
      upstreamStatus: status,
      result: { source: this.resultSource(generation.video_url.trim()), mediaType: 'VIDEO', durationSeconds: null, width: null, height: null },
    };
    return { providerTaskId: generation.id ?? `grok-${request.taskId}`, snapshot };
  }

  /** The outcome arrives with the submission; after a restart there is nothing to look up. */
  async poll(): Promise<Snapshot> {
    throw permanentError('UPSTREAM_UNCERTAIN', `${this.id} is synchronous: its answer was lost (e.g. by a restart) and a synchronous upstream cannot be looked up afterwards`);
  }

  /** No cancel in the doc; never called since capabilities.cancel is false. */
  async cancel(): Promise<void> {}

  private resultSource(value: string): ResultSource {
    return downloadSource(resolveAgainst(this.baseUrl, value), this.baseUrl, this.config.apiKey);
  }
}

/** http(s) (or data:) URLs go as they are; an uploaded file goes inline as a base64 data URL. */
async function imageUrl(image: ImageInput, signal: AbortSignal, allowHosts: readonly string[]): Promise<string> {
  if (image.kind === 'url') return image.url;
  const { bytes, contentType } = await readImageBytes(image, { signal, allowHosts });
  return toDataUrl(bytes, contentType);
}

