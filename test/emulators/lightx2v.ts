// Emulator of a LightX2V video server as its API guide describes it (seed 003):
// JSON and multipart submission, status with submitted/running/succeed/failed
// and 0.0–1.0 progress, the optional result endpoint and the file download
// endpoint serving the video (fakeMp4(taskId)). FastAPI-style errors ({detail}).
//
// Behaviour switches, programmatic or by prompt keyword:
//   [fail]   the task fails with a message          emu.failNext(message)
//   [never]  the task never finishes                 emu.neverFinish = true
//   [vanish] 404 after the first status query       emu.vanish(taskId)
// How the result is found is configurable (resultMode, statusPathField).
import { randomBytes } from 'node:crypto';
import { EmulatorServer, type EmulatorRequest, type EmulatorResponse, fakeMp4 } from './common.js';

export const LIGHTX2V_FAIL_MESSAGE = 'CUDA out of memory while decoding the video';

export type Lightx2vStatus = 'submitted' | 'running' | 'succeed' | 'failed' | 'cancelled';

export interface Lightx2vEmulatorOptions {
  processingAfterMs?: number;
  completeAfterMs?: number;
  /**
   * GET /v1/tasks/{id}/result: 'json' answers {task_id, status, save_result_path}
   * (default), 'stream' answers the MP4 itself, 'none' has no such endpoint (404).
   */
  resultMode?: 'json' | 'stream' | 'none';
  /** When set, the status of a finished task names its file in this field (e.g. "save_result_path"). */
  statusPathField?: string;
  /** Serve DELETE /v1/tasks/{id} (default true). */
  stopEndpoint?: boolean;
  port?: number;
}

export interface Lightx2vEmulatorTask {
  taskId: string;
  via: 'json' | 'form';
  prompt: string;
  negativePrompt: string | null;
  seed: number | null;
  inferSteps: number;
  videoDuration: number;
  height: number;
  width: number;
  numFragments: number;
  imagePath: string | null;
  /** The uploaded image_file, when the form was used with one. */
  imageFile: { filename: string; contentType: string; bytes: Buffer } | null;
  outputPath: string;
  createdAt: number;
  cancelledAt: number | null;
  failMessage: string | null;
  never: boolean;
  vanishAfterPoll: boolean;
  polls: number;
  gone: boolean;
}

export interface Lightx2vEmulator {
  url: string;
  server: EmulatorServer;
  tasks: Map<string, Lightx2vEmulatorTask>;
  /** Create requests (JSON or form) that reached the handler, valid or not. */
  readonly createRequests: number;
  neverFinish: boolean;
  /** submitted → running, and running → finished, this long after creation (may be changed between tests). */
  processingAfterMs: number;
  completeAfterMs: number;
  failNext(message?: string): void;
  vanish(taskId: string): void;
  statusOf(taskId: string): Lightx2vStatus | undefined;
  close(): Promise<void>;
}

type Fields = Record<string, unknown>;
type Parsed = { ok: true; task: Omit<Lightx2vEmulatorTask, 'taskId' | 'via' | 'imageFile' | 'outputPath' | 'createdAt' | 'cancelledAt' | 'failMessage' | 'never' | 'vanishAfterPoll' | 'polls' | 'gone'> } | { ok: false; res: EmulatorResponse };

const unprocessable = (loc: string, msg: string, type: string, input: unknown): EmulatorResponse => ({ status: 422, json: { detail: [{ type, loc: ['body', loc], msg, input: input ?? null }] } });
const notFound = (detail = 'Task not found'): EmulatorResponse => ({ status: 404, json: { detail } });

/** FastAPI/pydantic-like validation of the documented fields (strings from forms are coerced). */
function parseFields(f: Fields): Parsed {
  if (typeof f.prompt !== 'string' || !f.prompt.trim()) return { ok: false, res: unprocessable('prompt', 'Field required', 'missing', f.prompt) };
  const ints: Record<string, number> = { infer_steps: 4, video_duration: 5, height: 480, width: 832, num_fragments: 1 };
  const out: Record<string, number | null> = { seed: null };
  for (const key of [...Object.keys(ints), 'seed']) {
    const raw = f[key];
    if (raw === undefined || raw === '') {
      out[key] = ints[key] ?? null;
      continue;
    }
    const n = typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n)) return { ok: false, res: unprocessable(key, 'Input should be a valid integer', 'int_parsing', raw) };
    if (key !== 'seed' && n < 1) return { ok: false, res: unprocessable(key, 'Input should be greater than 0', 'greater_than', raw) };
    out[key] = n;
  }
  const str = (k: string) => (typeof f[k] === 'string' && (f[k] as string) !== '' ? (f[k] as string) : null);
  return {
    ok: true,
    task: {
      prompt: f.prompt,
      negativePrompt: str('negative_prompt'),
      seed: out.seed ?? null,
      inferSteps: out.infer_steps!,
      videoDuration: out.video_duration!,
      height: out.height!,
      width: out.width!,
      numFragments: out.num_fragments!,
      imagePath: str('image_path'),
    },
  };
}

function isImage(b: Buffer): boolean {
  return b.subarray(0, 8).equals(Buffer.from('89504e470d0a1a0a', 'hex')) || (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) || (b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP');
}

export async function startLightx2vEmulator(opts: Lightx2vEmulatorOptions = {}): Promise<Lightx2vEmulator> {
  const resultMode = opts.resultMode ?? 'json';
  const tasks = new Map<string, Lightx2vEmulatorTask>();
  const byPath = new Map<string, Lightx2vEmulatorTask>();
  const server = new EmulatorServer();
  let createRequests = 0;
  let failNextMessage: string | null = null;

  const emu: Lightx2vEmulator = {
    url: '',
    server,
    tasks,
    get createRequests() {
      return createRequests;
    },
    neverFinish: false,
    processingAfterMs: opts.processingAfterMs ?? 200,
    completeAfterMs: opts.completeAfterMs ?? 900,
    failNext(message = LIGHTX2V_FAIL_MESSAGE) {
      failNextMessage = message;
    },
    vanish(taskId) {
      const t = tasks.get(taskId);
      if (t) t.gone = true;
    },
    statusOf(taskId) {
      const t = tasks.get(taskId);
      return t && !t.gone ? view(t).status : undefined;
    },
    close: () => server.close(),
  };

  function view(t: Lightx2vEmulatorTask): { status: Lightx2vStatus; progress: number; message: string } {
    const age = Date.now() - t.createdAt;
    const processingAfter = emu.processingAfterMs;
    const completeAfter = Math.max(emu.completeAfterMs, processingAfter + 1);
    const running = (at: number) => Math.round(Math.min(0.95, Math.max(0.01, ((at - processingAfter) / (completeAfter - processingAfter)) * 0.95)) * 100) / 100;
    if (t.cancelledAt !== null) return { status: 'cancelled', progress: running(Math.min(t.cancelledAt - t.createdAt, completeAfter)), message: 'Task cancelled' };
    if (age < processingAfter) return { status: 'submitted', progress: 0, message: 'Task submitted, waiting for a worker' };
    if (t.never || emu.neverFinish || age < completeAfter) return { status: 'running', progress: running(Math.min(age, completeAfter - 1)), message: 'Processing...' };
    if (t.failMessage) return { status: 'failed', progress: running(completeAfter - 1), message: t.failMessage };
    return { status: 'succeed', progress: 1, message: 'Task completed successfully' };
  }

  function create(via: 'json' | 'form', parsed: Parsed, imageFile: Lightx2vEmulatorTask['imageFile']): EmulatorResponse {
    if (!parsed.ok) return parsed.res;
    const taskId = randomBytes(8).toString('hex');
    const prompt = parsed.task.prompt;
    const keywordFail = prompt.includes('[fail]');
    const t: Lightx2vEmulatorTask = {
      ...parsed.task,
      taskId,
      via,
      imageFile,
      outputPath: `outputs/videos/${taskId}.mp4`,
      createdAt: Date.now(),
      cancelledAt: null,
      failMessage: keywordFail ? LIGHTX2V_FAIL_MESSAGE : failNextMessage,
      never: prompt.includes('[never]'),
      vanishAfterPoll: prompt.includes('[vanish]'),
      polls: 0,
      gone: false,
    };
    if (!keywordFail) failNextMessage = null;
    tasks.set(taskId, t);
    byPath.set(t.outputPath, t);
    return { json: { task_id: taskId, status: 'submitted', message: 'Task created successfully' } };
  }

  const find = (req: EmulatorRequest) => {
    const t = tasks.get(req.params.id ?? '');
    return t && !t.gone ? t : undefined;
  };

  server.route('POST', '/v1/tasks/video', (req) => {
    createRequests++;
    const b = req.json;
    if (!b || typeof b !== 'object' || Array.isArray(b)) return { status: 422, json: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: null }] } };
    return create('json', parseFields(b as Fields), null);
  });

  server.route('POST', '/v1/tasks/video/form', async (req) => {
    createRequests++;
    const contentType = String(req.headers['content-type'] ?? '');
    if (!contentType.startsWith('multipart/form-data')) return unprocessable('prompt', 'Field required', 'missing', null);
    let form: FormData;
    try {
      form = await new Request('http://emulator/form', { method: 'POST', headers: { 'content-type': contentType }, body: new Uint8Array(req.raw) }).formData();
    } catch {
      return { status: 400, json: { detail: 'There was an error parsing the body' } };
    }
    const fields: Fields = {};
    let imageFile: Lightx2vEmulatorTask['imageFile'] = null;
    for (const [key, value] of form.entries()) {
      if (typeof value === 'string') fields[key] = value;
      else if (key === 'image_file') {
        const bytes = Buffer.from(await value.arrayBuffer());
        if (!isImage(bytes)) return { status: 400, json: { detail: 'image_file is not a valid image' } };
        imageFile = { filename: value.name, contentType: value.type, bytes };
      }
    }
    return create('form', parseFields(fields), imageFile);
  });

  server.route('GET', '/v1/tasks/:id/status', (req) => {
    const t = find(req);
    if (!t) return notFound();
    t.polls++;
    if (t.vanishAfterPoll && t.polls > 1) {
      t.gone = true;
      return notFound();
    }
    const v = view(t);
    const body: Record<string, unknown> = { task_id: t.taskId, status: v.status, progress: v.progress, message: v.message };
    if (opts.statusPathField && v.status === 'succeed') body[opts.statusPathField] = t.outputPath;
    return { json: body };
  });

  if (resultMode !== 'none') {
    server.route('GET', '/v1/tasks/:id/result', (req) => {
      const t = find(req);
      if (!t || view(t).status !== 'succeed') return notFound('Task not completed or does not exist');
      if (resultMode === 'stream') return { body: fakeMp4(t.taskId), headers: { 'content-type': 'video/mp4', 'content-disposition': `attachment; filename="${t.taskId}.mp4"` } };
      return { json: { task_id: t.taskId, status: 'succeed', save_result_path: t.outputPath } };
    });
  }

  if (opts.stopEndpoint ?? true) {
    server.route('DELETE', '/v1/tasks/:id', (req) => {
      const t = find(req);
      if (!t) return notFound();
      const status = view(t).status;
      if (status !== 'submitted' && status !== 'running') return { status: 400, json: { detail: `Task already ${status}` } };
      t.cancelledAt = Date.now();
      return { json: { task_id: t.taskId, status: 'cancelled', message: 'Task cancelled' } };
    });
  }

  server.route('GET', '/v1/files/download/:path*', (req) => {
    const path = (req.params.path ?? '').replace(/^\/+/, '');
    const t = byPath.get(path);
    if (!t || t.gone || view(t).status !== 'succeed') return notFound(`File not found: ${path}`);
    return { body: fakeMp4(t.taskId), headers: { 'content-type': 'video/mp4', 'content-disposition': `attachment; filename="${t.taskId}.mp4"` } };
  });

  emu.url = await server.listen(opts.port ?? 0);
  return emu;
}
