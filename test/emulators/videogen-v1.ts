// Emulator of the "Video Generation API" (seed 000): POST /api/v1/videos/tasks
// answers 201 with a {code, message, data} envelope; tasks walk pending →
// processing → completed over time; finished videos are served by the emulator.
//
// Switches: prompt keywords "[fail]" (task fails), "[never]" (stays processing),
// "[vanish]" (404 after the first poll); programmatically failNext(), neverFinish,
// vanish(id), healthy, and server.faults from common.ts.
import crypto from 'node:crypto';
import { EmulatorServer, fakeMp4, type EmulatorRequest, type EmulatorResponse, timedStatus } from './common.js';

export interface VideogenV1EmulatorOptions {
  /** pending → processing after this long (default 300 ms). */
  processingAfterMs?: number;
  /** processing → completed/failed after this long since creation (default 900 ms). */
  completeAfterMs?: number;
  /** When set, every /api/v1 request needs `Authorization: Bearer <apiKey>` (the doc has no auth). */
  apiKey?: string;
  /** Reported in result.duration / result.resolution (defaults 5.0 and "1920x1080"). */
  duration?: number;
  resolution?: string;
  model?: string;
  port?: number;
}

export interface VideogenV1EmulatedTask {
  id: string;
  prompt: string;
  imageUrl: string | null;
  createdAt: number;
  /** Set when the task is decided (fails or completes). */
  final: 'completed' | 'failed' | null;
  failMessage: string | null;
  never: boolean;
  vanishAfterPoll: boolean;
  polls: number;
}

export const DEFAULT_FAIL_MESSAGE = 'Video generation failed: Invalid prompt format';
const TASKS = '/api/v1/videos/tasks';

export class VideogenV1Emulator {
  readonly server = new EmulatorServer();
  readonly tasks = new Map<string, VideogenV1EmulatedTask>();
  /** Every created task stays listed here, even after vanish. */
  readonly created: string[] = [];
  /** Tasks stay "processing" while true. */
  neverFinish = false;
  healthy = true;
  processingAfterMs: number;
  completeAfterMs: number;
  private failNextMessages: string[] = [];

  constructor(private readonly opts: VideogenV1EmulatorOptions = {}) {
    this.processingAfterMs = opts.processingAfterMs ?? 300;
    this.completeAfterMs = opts.completeAfterMs ?? 900;
    this.server
      .route('POST', TASKS, (req) => this.guard(req) ?? this.create(req))
      .route('GET', `${TASKS}/:id`, (req) => this.guard(req) ?? this.query(req.params.id!))
      .route('GET', '/api/v1/videos/health', (req) => this.guard(req) ?? this.health())
      .route('GET', '/media/:file', (req) => this.media(req.params.file!));
  }

  get url(): string {
    return this.server.url;
  }

  /** Create requests that reached the server (faulted ones included). */
  get createRequests(): number {
    return this.server.requests.filter((r) => r.method === 'POST' && r.path === TASKS).length;
  }

  /** The next created task fails with this message. */
  failNext(message = DEFAULT_FAIL_MESSAGE): void {
    this.failNextMessages.push(message);
  }

  /** The task disappears: queries answer 404 from now on. */
  vanish(id: string): void {
    this.tasks.delete(id);
  }

  videoUrl(id: string): string {
    return `${this.url}/media/${id}.mp4`;
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  private guard(req: EmulatorRequest): EmulatorResponse | undefined {
    if (!this.opts.apiKey) return undefined;
    if (req.headers.authorization === `Bearer ${this.opts.apiKey}`) return undefined;
    return { status: 401, json: { detail: 'Not authenticated' } };
  }

  private create(req: EmulatorRequest): EmulatorResponse {
    const body = req.json;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return { status: 422, json: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body ?? null }] } };
    }
    const { prompt, image_url: imageUrl } = body as Record<string, unknown>;
    if (prompt === undefined) return { status: 422, json: { detail: [{ type: 'missing', loc: ['body', 'prompt'], msg: 'Field required', input: body }] } };
    if (typeof prompt !== 'string') return { status: 422, json: { detail: [{ type: 'string_type', loc: ['body', 'prompt'], msg: 'Input should be a valid string', input: prompt }] } };
    if (imageUrl !== undefined && imageUrl !== null && typeof imageUrl !== 'string') {
      return { status: 422, json: { detail: [{ type: 'string_type', loc: ['body', 'image_url'], msg: 'Input should be a valid string', input: imageUrl }] } };
    }
    if (!prompt.trim()) return { status: 400, json: { detail: 'Prompt cannot be empty' } };

    const id = `task_${crypto.randomBytes(6).toString('hex')}`;
    const injected = this.failNextMessages.shift();
    const task: VideogenV1EmulatedTask = {
      id,
      prompt,
      imageUrl: typeof imageUrl === 'string' ? imageUrl : null,
      createdAt: Date.now(),
      final: null,
      failMessage: injected ?? (prompt.includes('[fail]') ? DEFAULT_FAIL_MESSAGE : null),
      never: prompt.includes('[never]'),
      vanishAfterPoll: prompt.includes('[vanish]'),
      polls: 0,
    };
    this.tasks.set(id, task);
    this.created.push(id);
    return { status: 201, json: { code: 0, message: 'Video generation task created successfully', data: this.view(task) } };
  }

  private query(id: string): EmulatorResponse {
    const task = this.tasks.get(id);
    if (!task) return { status: 404, json: { detail: 'Task not found' } };
    task.polls++;
    if (task.vanishAfterPoll) this.tasks.delete(id);
    return { status: 200, json: { code: 0, message: 'Task query successful', data: this.view(task) } };
  }

  private health(): EmulatorResponse {
    return this.healthy
      ? { json: { status: 'healthy', service: 'video_generation', message: 'Service is running normally' } }
      : { json: { status: 'unhealthy', service: 'video_generation', message: 'Failed to connect to video generation service' } };
  }

  private media(file: string): EmulatorResponse {
    const id = file.replace(/\.mp4$/, '');
    const task = this.tasks.get(id);
    if (!task || this.statusOf(task) !== 'completed') return { status: 404, json: { detail: 'Not Found' } };
    return { headers: { 'content-type': 'video/mp4' }, body: fakeMp4(id) };
  }

  private statusOf(task: VideogenV1EmulatedTask): 'pending' | 'processing' | 'completed' | 'failed' {
    return timedStatus(task, this);
  }

  private view(task: VideogenV1EmulatedTask): Record<string, unknown> {
    const status = this.statusOf(task);
    const created = Math.floor(task.createdAt / 1000);
    return {
      id: task.id,
      model: this.opts.model ?? 'ep-20260129105436-445p4',
      status,
      created_at: created,
      updated_at: status === 'pending' ? null : Math.floor(Date.now() / 1000),
      result: status === 'completed' ? { video_url: this.videoUrl(task.id), duration: this.opts.duration ?? 5.0, resolution: this.opts.resolution ?? '1920x1080' } : null,
      error: status === 'failed' ? task.failMessage : null,
    };
  }
}

export async function startVideogenV1Emulator(opts: VideogenV1EmulatorOptions = {}): Promise<VideogenV1Emulator> {
  const emu = new VideogenV1Emulator(opts);
  await emu.server.listen(opts.port ?? 0);
  return emu;
}
