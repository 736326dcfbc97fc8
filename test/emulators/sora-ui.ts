// Emulator of the Sora UI backend's video-task API (seed 002): JWT Bearer auth,
// {success, data, message} envelopes and {success:false, message, code} errors,
// QUEUED → PROCESSING → COMPLETED with progress 0–100, cancel, content URL, task
// list and stats, and the media itself (an MP4, or a PNG for the imagen models).
//
// Behaviour switches, programmatic or by prompt keyword:
//   [fail]   the task fails with a message          emu.failNext(message)
//   [never]  the task never finishes                 emu.neverFinish = true
//   [vanish] 404 after the first status query       emu.vanish(videoId)
//   [nourl]  completed without videoUrl (use the content endpoint)
import { randomUUID } from 'node:crypto';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse, TINY_PNG, fakeMp4 } from './common.js';

export const SORA_UI_TEST_TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEyMzQ1In0.c29yYS11aS1lbXVsYXRvcg';
export const SORA_UI_EMULATOR_MODELS = ['sora_video2', 'sora_video2-portrait', 'sora_video2-landscape', 'gemini-2.5-flash-imagen', 'gemini-2.5-flash-imagen-edit'];
export const SORA_UI_FAIL_MESSAGE = 'Content policy violation: the prompt was rejected';

export type SoraStatus = 'QUEUED' | 'PROCESSING' | 'COMPLETED' | 'FAILED' | 'CANCELLED';

export interface SoraUiEmulatorOptions {
  /** The JWT the emulator accepts; anything else gets 401. */
  token?: string;
  /** QUEUED until then (ms after creation). */
  processingAfterMs?: number;
  /** COMPLETED (or FAILED) from then on. */
  completeAfterMs?: number;
  /** The media URL also wants the Bearer token (default true). */
  mediaRequiresAuth?: boolean;
  port?: number;
}

export interface SoraEmulatorTask {
  id: string;
  videoId: string;
  userId: string;
  prompt: string;
  model: string;
  size: string | null;
  duration: number;
  watermark: boolean;
  aspectRatio: string | null;
  apiConfigId: string | null;
  /** The decoded reference image, when one was sent. */
  referenceImage: { contentType: string; bytes: Buffer } | null;
  mediaType: 'VIDEO' | 'IMAGE';
  createdAt: number;
  cancelledAt: number | null;
  failMessage: string | null;
  never: boolean;
  vanishAfterPoll: boolean;
  noUrl: boolean;
  polls: number;
  gone: boolean;
}

export interface SoraUiEmulator {
  url: string;
  server: EmulatorServer;
  token: string;
  tasks: Map<string, SoraEmulatorTask>;
  /** Create requests that reached the handler (valid or not). */
  readonly createRequests: number;
  /** While true, no task finishes. */
  neverFinish: boolean;
  /** The next created task fails with this message. */
  failNext(message?: string): void;
  /** The task is gone: every later request about it gets 404. */
  vanish(videoId: string): void;
  statusOf(videoId: string): SoraStatus | undefined;
  close(): Promise<void>;
}

const ASPECT_RATIOS = ['16:9', '9:16', '1:1'];
const IMAGE_MAGIC: Array<[string, (b: Buffer) => boolean]> = [
  ['image/png', (b) => b.subarray(0, 8).equals(Buffer.from('89504e470d0a1a0a', 'hex'))],
  ['image/jpeg', (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ['image/webp', (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP'],
];

const fail = (status: number, message: string, code: string): EmulatorResponse => ({ status, json: { success: false, message, code } });

export async function startSoraUiEmulator(opts: SoraUiEmulatorOptions = {}): Promise<SoraUiEmulator> {
  const token = opts.token ?? SORA_UI_TEST_TOKEN;
  const processingAfter = opts.processingAfterMs ?? 200;
  const completeAfter = Math.max(opts.completeAfterMs ?? 900, processingAfter + 1);
  const mediaRequiresAuth = opts.mediaRequiresAuth ?? true;
  const tasks = new Map<string, SoraEmulatorTask>();
  const server = new EmulatorServer();
  let createRequests = 0;
  let failNextMessage: string | null = null;

  const emu: SoraUiEmulator = {
    url: '',
    server,
    token,
    tasks,
    get createRequests() {
      return createRequests;
    },
    neverFinish: false,
    failNext(message = SORA_UI_FAIL_MESSAGE) {
      failNextMessage = message;
    },
    vanish(videoId) {
      const t = tasks.get(videoId);
      if (t) t.gone = true;
    },
    statusOf(videoId) {
      const t = tasks.get(videoId);
      return t && !t.gone ? view(t).status : undefined;
    },
    close: () => server.close(),
  };

  const authorized = (req: EmulatorRequest) => req.headers.authorization === `Bearer ${token}`;
  const unauthorized = () => fail(401, 'Unauthorized: invalid or missing token', 'UNAUTHORIZED');
  const mediaUrl = (t: SoraEmulatorTask) => `${server.url}/v1/videos/${encodeURIComponent(t.videoId)}/content`;

  function view(t: SoraEmulatorTask): { status: SoraStatus; progress: number; completedAt: number | null } {
    const age = Date.now() - t.createdAt;
    const running = (until: number) => Math.min(95, Math.max(1, Math.floor(((until - processingAfter) / (completeAfter - processingAfter)) * 95)));
    if (t.cancelledAt !== null) return { status: 'CANCELLED', progress: running(Math.min(t.cancelledAt - t.createdAt, completeAfter)), completedAt: null };
    if (age < processingAfter) return { status: 'QUEUED', progress: 0, completedAt: null };
    if (t.never || emu.neverFinish || age < completeAfter) return { status: 'PROCESSING', progress: running(Math.min(age, completeAfter - 1)), completedAt: null };
    const completedAt = t.createdAt + completeAfter;
    if (t.failMessage) return { status: 'FAILED', progress: running(completeAfter - 1), completedAt };
    return { status: 'COMPLETED', progress: 100, completedAt };
  }

  function toJson(t: SoraEmulatorTask): Record<string, unknown> {
    const v = view(t);
    const out: Record<string, unknown> = {
      id: t.id,
      videoId: t.videoId,
      userId: t.userId,
      status: v.status,
      progress: v.progress,
      prompt: t.prompt,
      model: t.model,
      duration: t.duration,
      size: t.size,
      aspectRatio: t.aspectRatio,
      watermark: t.watermark,
      mediaType: t.mediaType,
      createdAt: new Date(t.createdAt).toISOString(),
    };
    if (v.completedAt !== null) out.completedAt = new Date(v.completedAt).toISOString();
    if (v.status === 'COMPLETED' && !t.noUrl) out.videoUrl = mediaUrl(t);
    if (v.status === 'FAILED') out.errorMessage = t.failMessage;
    return out;
  }

  function find(req: EmulatorRequest): SoraEmulatorTask | undefined {
    const t = tasks.get(req.params.videoId ?? '');
    return t && !t.gone ? t : undefined;
  }

  function decodeImage(value: unknown): { contentType: string; bytes: Buffer } | null {
    if (typeof value !== 'string') return null;
    const m = /^data:(image\/[\w.+-]+);base64,([A-Za-z0-9+/=\s]+)$/.exec(value);
    if (!m) return null;
    const bytes = Buffer.from(m[2]!, 'base64');
    const sniffed = IMAGE_MAGIC.find(([, test]) => bytes.length >= 12 && test(bytes));
    return sniffed && sniffed[0] === m[1] ? { contentType: m[1]!, bytes } : null;
  }

  server.route('POST', '/api/video/tasks', (req) => {
    createRequests++;
    if (!authorized(req)) return unauthorized();
    const b = req.json && typeof req.json === 'object' && !Array.isArray(req.json) ? (req.json as Record<string, unknown>) : null;
    if (!b) return fail(400, 'request body must be a JSON object', 'INVALID_PARAMS');
    if (typeof b.prompt !== 'string' || !b.prompt.trim()) return fail(400, 'prompt is required', 'INVALID_PARAMS');
    if (typeof b.model !== 'string' || !b.model) return fail(400, 'model is required', 'INVALID_PARAMS');
    if (!SORA_UI_EMULATOR_MODELS.includes(b.model)) return fail(400, `unsupported model: ${b.model}`, 'INVALID_MODEL');
    if (b.size !== undefined && (typeof b.size !== 'string' || !/^\d+x\d+$/.test(b.size))) return fail(400, 'size must look like "1280x720"', 'INVALID_PARAMS');
    if (b.duration !== undefined && (typeof b.duration !== 'number' || !(b.duration > 0))) return fail(400, 'duration must be a positive number', 'INVALID_PARAMS');
    if (b.watermark !== undefined && typeof b.watermark !== 'boolean') return fail(400, 'watermark must be a boolean', 'INVALID_PARAMS');
    if (b.aspectRatio !== undefined && (typeof b.aspectRatio !== 'string' || !ASPECT_RATIOS.includes(b.aspectRatio))) return fail(400, `aspectRatio must be one of ${ASPECT_RATIOS.join(', ')}`, 'INVALID_PARAMS');
    let referenceImage: SoraEmulatorTask['referenceImage'] = null;
    if (b.referenceImage !== undefined) {
      referenceImage = decodeImage(b.referenceImage);
      if (!referenceImage) return fail(400, 'referenceImage must be a base64 PNG, JPEG or WebP data URL', 'INVALID_IMAGE');
    }
    const prompt = b.prompt;
    const keywordFail = prompt.includes('[fail]');
    const videoId = `video_${randomUUID()}`;
    const t: SoraEmulatorTask = {
      id: `cl${randomUUID().replace(/-/g, '').slice(0, 23)}`,
      videoId,
      userId: 'user_12345',
      prompt,
      model: b.model,
      size: typeof b.size === 'string' ? b.size : null,
      duration: typeof b.duration === 'number' ? b.duration : 10,
      watermark: b.watermark === true,
      aspectRatio: typeof b.aspectRatio === 'string' ? b.aspectRatio : null,
      apiConfigId: typeof b.apiConfigId === 'string' ? b.apiConfigId : null,
      referenceImage,
      mediaType: b.model.includes('-imagen') ? 'IMAGE' : 'VIDEO',
      createdAt: Date.now(),
      cancelledAt: null,
      failMessage: keywordFail ? SORA_UI_FAIL_MESSAGE : failNextMessage,
      never: prompt.includes('[never]'),
      vanishAfterPoll: prompt.includes('[vanish]'),
      noUrl: prompt.includes('[nourl]'),
      polls: 0,
      gone: false,
    };
    if (!keywordFail) failNextMessage = null;
    tasks.set(videoId, t);
    return { status: 200, json: { success: true, data: toJson(t), message: '任务创建成功' } };
  });

  server.route('GET', '/api/video/tasks', (req) => {
    if (!authorized(req)) return unauthorized();
    const page = Number(req.query.get('page') ?? 1);
    const pageSize = Number(req.query.get('pageSize') ?? 20);
    if (!Number.isInteger(page) || page < 1 || !Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100) return fail(400, 'page and pageSize must be positive integers (pageSize <= 100)', 'INVALID_PARAMS');
    const status = req.query.get('status');
    const mediaType = req.query.get('mediaType');
    const orderBy = req.query.get('orderBy') ?? 'createdAt';
    const order = req.query.get('order') ?? 'desc';
    if (orderBy !== 'createdAt' || (order !== 'asc' && order !== 'desc')) return fail(400, 'orderBy must be createdAt and order asc or desc', 'INVALID_PARAMS');
    let list = [...tasks.values()].filter((t) => !t.gone).map(toJson);
    if (status) list = list.filter((t) => t.status === status);
    if (mediaType) list = list.filter((t) => t.mediaType === mediaType);
    list.sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)) * (order === 'asc' ? 1 : -1));
    const slice = list.slice((page - 1) * pageSize, page * pageSize).map((t) => ({ videoId: t.videoId, status: t.status, progress: t.progress, prompt: t.prompt, model: t.model, mediaType: t.mediaType, createdAt: t.createdAt }));
    return { json: { success: true, data: { tasks: slice, total: list.length, page, pageSize } } };
  });

  server.route('GET', '/api/video/stats', (req) => {
    if (!authorized(req)) return unauthorized();
    const counts = { total: 0, completed: 0, failed: 0, processing: 0, queued: 0 };
    for (const t of tasks.values()) {
      if (t.gone) continue;
      counts.total++;
      const s = view(t).status;
      if (s === 'COMPLETED') counts.completed++;
      else if (s === 'FAILED') counts.failed++;
      else if (s === 'PROCESSING') counts.processing++;
      else if (s === 'QUEUED') counts.queued++;
    }
    return { json: { success: true, data: counts } };
  });

  server.route('GET', '/api/video/tasks/:videoId', (req) => {
    if (!authorized(req)) return unauthorized();
    const t = find(req);
    if (!t) return fail(404, 'task not found', 'NOT_FOUND');
    t.polls++;
    if (t.vanishAfterPoll && t.polls > 1) {
      t.gone = true;
      return fail(404, 'task not found', 'NOT_FOUND');
    }
    return { json: { success: true, data: toJson(t) } };
  });

  server.route('GET', '/api/video/tasks/:videoId/content', (req) => {
    if (!authorized(req)) return unauthorized();
    const t = find(req);
    if (!t) return fail(404, 'task not found', 'NOT_FOUND');
    const status = view(t).status;
    if (status !== 'COMPLETED') return fail(400, `task is not completed (status ${status})`, 'TASK_NOT_COMPLETED');
    return { json: { success: true, data: { videoId: t.videoId, url: mediaUrl(t) } } };
  });

  server.route('POST', '/api/video/tasks/:videoId/cancel', (req) => {
    if (!authorized(req)) return unauthorized();
    const t = find(req);
    if (!t) return fail(404, 'task not found', 'NOT_FOUND');
    const status = view(t).status;
    if (status !== 'QUEUED' && status !== 'PROCESSING') return fail(400, `task cannot be cancelled in status ${status}`, 'INVALID_STATUS');
    t.cancelledAt = Date.now();
    return { json: { success: true, data: { videoId: t.videoId, status: 'CANCELLED' }, message: '任务已取消' } };
  });

  server.route('GET', '/v1/videos/:videoId/content', (req) => {
    if (mediaRequiresAuth && !authorized(req)) return unauthorized();
    const t = find(req);
    if (!t || view(t).status !== 'COMPLETED') return fail(404, 'content not found', 'NOT_FOUND');
    return t.mediaType === 'IMAGE'
      ? { body: TINY_PNG, headers: { 'content-type': 'image/png' } }
      : { body: fakeMp4(t.videoId), headers: { 'content-type': 'video/mp4' } };
  });

  emu.url = await server.listen(opts.port ?? 0);
  return emu;
}
