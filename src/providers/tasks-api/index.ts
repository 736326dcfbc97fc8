// Adapter for the video-task API (seed 004): POST /api/tasks/ {prompt}, poll
// GET /api/tasks/{id}, cancel by DELETE /api/tasks/{id}, health at GET /health.
// The finished video is a path relative to the upstream ("videos/<id>_final.mp4"),
// resolved against baseUrl (keeping its path prefix). Text-to-video only.
import { z } from 'zod';
import { isZone, matchSubmitted, zonedTime } from '../lookup.js';
import { bearer, downloadSource, remoteCapabilities, resolveAgainst } from '../remote.js';
import { isUpstreamError, permanentError } from '../errors.js';
import { joinUrl, parseUpstream, upstreamFetch, upstreamJson } from '../http.js';
import type { CallContext, GenerationRequest, PollContext, Provider, ProviderCapabilities, ProviderConfig, ProviderFactory, ResultSource, Snapshot, SubmitOutcome } from '../types.js';
import { healthSchema, taskListSchema, taskSchema } from './api-types.js';
import { toSnapshot } from './status.js';

export { statusMap } from './status.js';

export const KIND = 'tasks-api';
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

const optionsSchema = z.looseObject({
  /**
   * The time zone of the upstream's naive `created_at` ("Z" or "±HH:MM"). The
   * API gives none, and a lost submission is adopted only from a list whose
   * creation times can be compared: without this option it is never adopted.
   */
  createdAtZone: z.string().refine(isZone, 'must be "Z" or an offset like "+08:00"').optional(),
});

export const createTasksApiProvider: ProviderFactory = (config) => new TasksApiProvider(config);

class TasksApiProvider implements Provider {
  readonly kind = KIND;
  readonly id: string;
  readonly capabilities: ProviderCapabilities;
  private readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly createdAtZone: string | undefined;

  constructor(private readonly config: ProviderConfig) {
    if (!config.baseUrl) throw new Error(`provider ${config.id}: baseUrl is required for kind ${KIND}`);
    const options = optionsSchema.safeParse(config.options);
    if (!options.success) throw new Error(`provider ${config.id}: invalid options: ${options.error.message}`);
    this.createdAtZone = options.data.createdAtZone;
    this.id = config.id;
    this.baseUrl = config.baseUrl;
    this.timeoutMs = config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.capabilities = remoteCapabilities({
      textToVideo: true,
      cancel: true,
      models: [...config.models],
    });
  }

  private headers(): Record<string, string> {
    return bearer(this.config.apiKey);
  }

  private taskUrl(id: string): string {
    return joinUrl(this.baseUrl, `/api/tasks/${encodeURIComponent(id)}`);
  }

  async submit(request: GenerationRequest, ctx: CallContext): Promise<SubmitOutcome> {
    if (request.image) throw permanentError('IMAGE_NOT_SUPPORTED', `${this.id} generates from text only; it takes no input image`);
    // The trailing slash matters: FastAPI redirects /api/tasks to /api/tasks/.
    const answer = await upstreamJson(joinUrl(this.baseUrl, '/api/tasks/'), { method: 'POST', headers: this.headers(), body: { prompt: request.prompt }, timeoutMs: this.timeoutMs, signal: ctx.signal });
    return { providerTaskId: parseUpstream(taskSchema, answer, 'task creation answer').task_id };
  }

  async poll(providerTaskId: string, ctx: PollContext): Promise<Snapshot> {
    let answer: unknown;
    try {
      answer = await upstreamJson(this.taskUrl(providerTaskId), { headers: this.headers(), timeoutMs: this.timeoutMs, signal: ctx.signal });
    } catch (err) {
      if (isUpstreamError(err) && err.status === 404) throw permanentError('UPSTREAM_TASK_NOT_FOUND', `upstream task ${providerTaskId} no longer exists`, 404);
      throw err;
    }
    return toSnapshot(parseUpstream(taskSchema, answer, 'task status', { maybeCreated: false }), (value) => this.resultSource(value));
  }

  /** The list (newest first) after a submission with an unknown outcome. */
  async findSubmitted(request: GenerationRequest, opts: { since: Date; exclude: ReadonlySet<string> }, ctx: CallContext): Promise<string | null> {
    const answer = await upstreamJson(joinUrl(this.baseUrl, '/api/tasks/?skip=0&limit=100'), { headers: this.headers(), timeoutMs: this.timeoutMs, signal: ctx.signal });
    const listed = parseUpstream(taskListSchema, answer, 'task list', { maybeCreated: false }).tasks;
    return matchSubmitted(
      listed.map((t) => ({ id: t.task_id, prompt: t.prompt, createdAt: zonedTime(t.created_at, this.createdAtZone) })),
      { prompt: request.prompt, since: opts.since, exclude: opts.exclude },
    );
  }

  /** Deletes the task upstream; a task that is already gone counts as cancelled. */
  async cancel(providerTaskId: string, ctx: CallContext): Promise<void> {
    try {
      const res = await upstreamFetch(this.taskUrl(providerTaskId), { method: 'DELETE', headers: this.headers(), timeoutMs: this.timeoutMs, signal: ctx.signal });
      await res.body?.cancel().catch(() => {});
    } catch (err) {
      if (isUpstreamError(err) && err.status === 404) return;
      throw err;
    }
  }

  async health(ctx: CallContext): Promise<boolean> {
    const answer = await upstreamJson(joinUrl(this.baseUrl, '/health'), { headers: this.headers(), timeoutMs: this.timeoutMs, signal: ctx.signal });
    return parseUpstream(healthSchema, answer, 'health answer', { maybeCreated: false }).status === 'ok';
  }

  /** Absolute URLs stay as they are; relative paths go under baseUrl. */
  private resultSource(value: string): ResultSource {
    return downloadSource(resolveAgainst(this.baseUrl, value), this.baseUrl, this.config.apiKey);
  }
}

