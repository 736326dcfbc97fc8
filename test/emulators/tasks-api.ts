// Emulator of the video-task API (seed 004): POST /api/tasks/ (trailing slash;
// without it FastAPI redirects 307), GET/DELETE /api/tasks/{id}, GET /api/tasks/
// (list), GET /health. A finished task's result is the relative path
// "videos/<id>_final.mp4", served by the emulator (bytes = fakeMp4(id)).
//
// Switches: prompt keywords "[fail]" (task fails), "[never]" (stays processing),
// "[vanish]" (404 after the first poll); programmatically failNext(),
// neverFinish, vanish(id), healthy, and server.faults from common.ts.
// `prefix` mounts everything under a path (an upstream behind a reverse proxy).
import crypto from 'node:crypto';
import { EmulatorServer, fakeMp4, type EmulatorRequest, type EmulatorResponse, timedStatus } from './common.js';

export interface TasksApiEmulatorOptions {
  /** pending → processing after this long (default 300 ms). */
  processingAfterMs?: number;
  /** processing → completed/failed after this long since creation (default 900 ms). */
  completeAfterMs?: number;
  /** Path prefix for every route, e.g. "/svc" (default none). */
  prefix?: string;
  port?: number;
}

export interface TasksApiEmulatedTask {
  taskId: string;
  prompt: string;
  createdAt: number;
  final: 'completed' | 'failed' | null;
  failMessage: string | null;
  never: boolean;
  vanishAfterPoll: boolean;
  polls: number;
}

export const DEFAULT_FAIL_MESSAGE = '视频生成失败：渲染出错';

export class TasksApiEmulator {
  readonly server = new EmulatorServer();
  readonly tasks = new Map<string, TasksApiEmulatedTask>();
  /** Task ids deleted through DELETE /api/tasks/{id}. */
  readonly deleted: string[] = [];
  readonly prefix: string;
  neverFinish = false;
  healthy = true;
  processingAfterMs: number;
  completeAfterMs: number;
  private failNextMessages: string[] = [];

  constructor(opts: TasksApiEmulatorOptions = {}) {
    this.prefix = (opts.prefix ?? '').replace(/\/+$/, '');
    this.processingAfterMs = opts.processingAfterMs ?? 300;
    this.completeAfterMs = opts.completeAfterMs ?? 900;
    const p = this.prefix;
    this.server
      .route('GET', `${p}/health`, () => this.health())
      .route('POST', `${p}/api/tasks/`, (req) => this.create(req))
      .route('POST', `${p}/api/tasks`, () => ({ status: 307, headers: { location: `${p}/api/tasks/` } }))
      .route('GET', `${p}/api/tasks/`, (req) => this.list(req))
      .route('GET', `${p}/api/tasks/:id`, (req) => this.query(req.params.id!))
      .route('DELETE', `${p}/api/tasks/:id`, (req) => this.remove(req.params.id!))
      .route('GET', `${p}/videos/:file`, (req) => this.media(req.params.file!));
  }

  /** The emulator's root URL (without the prefix). */
  get url(): string {
    return this.server.url;
  }

  /** The base URL a provider should be configured with (with the prefix). */
  get baseUrl(): string {
    return this.server.url + this.prefix;
  }

  /** Create requests that reached the server (faulted ones included). */
  get createRequests(): number {
    return this.server.requests.filter((r) => r.method === 'POST' && r.path === `${this.prefix}/api/tasks/`).length;
  }

  failNext(message = DEFAULT_FAIL_MESSAGE): void {
    this.failNextMessages.push(message);
  }

  vanish(id: string): void {
    this.tasks.delete(id);
  }

  /** The relative result path the API reports, and its absolute URL. */
  resultPath(id: string): string {
    return `videos/${id}_final.mp4`;
  }

  videoUrl(id: string): string {
    return `${this.baseUrl}/${this.resultPath(id)}`;
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  private health(): EmulatorResponse {
    return this.healthy ? { json: { status: 'ok', message: '服务运行正常' } } : { status: 503, json: { status: 'error', message: '服务不可用' } };
  }

  private create(req: EmulatorRequest): EmulatorResponse {
    const body = req.json;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return { status: 422, json: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body ?? null }] } };
    }
    const prompt = (body as Record<string, unknown>).prompt;
    if (prompt === undefined) return { status: 422, json: { detail: [{ type: 'missing', loc: ['body', 'prompt'], msg: 'Field required', input: body }] } };
    if (typeof prompt !== 'string') return { status: 422, json: { detail: [{ type: 'string_type', loc: ['body', 'prompt'], msg: 'Input should be a valid string', input: prompt }] } };
    if (prompt.trim().length < 1) return { status: 422, json: { detail: [{ type: 'string_too_short', loc: ['body', 'prompt'], msg: 'String should have at least 1 character', input: prompt, ctx: { min_length: 1 } }] } };

    const task: TasksApiEmulatedTask = {
      taskId: crypto.randomUUID(),
      prompt,
      createdAt: Date.now(),
      final: null,
      failMessage: this.failNextMessages.shift() ?? (prompt.includes('[fail]') ? DEFAULT_FAIL_MESSAGE : null),
      never: prompt.includes('[never]'),
      vanishAfterPoll: prompt.includes('[vanish]'),
      polls: 0,
    };
    this.tasks.set(task.taskId, task);
    return { json: this.view(task) };
  }

  private list(req: EmulatorRequest): EmulatorResponse {
    const skip = Math.max(0, Number(req.query.get('skip') ?? 0) || 0);
    const limit = Math.max(0, Number(req.query.get('limit') ?? 10) || 0);
    const all = [...this.tasks.values()].sort((a, b) => b.createdAt - a.createdAt);
    const tasks = all.slice(skip, skip + limit).map((t) => {
      const { error: _error, ...rest } = this.view(t);
      return rest;
    });
    return { json: { tasks, total: all.length } };
  }

  private query(id: string): EmulatorResponse {
    const task = this.tasks.get(id);
    if (!task) return { status: 404, json: { detail: '任务不存在' } };
    task.polls++;
    if (task.vanishAfterPoll) this.tasks.delete(id);
    return { json: this.view(task) };
  }

  private remove(id: string): EmulatorResponse {
    if (!this.tasks.delete(id)) return { status: 404, json: { detail: '任务不存在' } };
    this.deleted.push(id);
    return { json: { message: '任务已删除' } };
  }

  private media(file: string): EmulatorResponse {
    const id = /^(.+)_final\.mp4$/.exec(file)?.[1];
    const task = id ? this.tasks.get(id) : undefined;
    if (!id || !task || this.statusOf(task) !== 'completed') return { status: 404, json: { detail: 'Not Found' } };
    return { headers: { 'content-type': 'video/mp4' }, body: fakeMp4(id) };
  }

  private statusOf(task: TasksApiEmulatedTask): 'pending' | 'processing' | 'completed' | 'failed' {
    return timedStatus(task, this);
  }

  private view(task: TasksApiEmulatedTask): Record<string, unknown> {
    const status = this.statusOf(task);
    return {
      task_id: task.taskId,
      status,
      prompt: task.prompt,
      result: status === 'completed' ? this.resultPath(task.taskId) : null,
      created_at: new Date(task.createdAt).toISOString().slice(0, 19),
      error: status === 'failed' ? task.failMessage : null,
    };
  }
}

export async function startTasksApiEmulator(opts: TasksApiEmulatorOptions = {}): Promise<TasksApiEmulator> {
  const emu = new TasksApiEmulator(opts);
  await emu.server.listen(opts.port ?? 0);
  return emu;
}
