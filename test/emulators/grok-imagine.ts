// Emulator of the Grok Imagine video API (seed 001): one synchronous
// POST /v1/videos/generations with a Bearer key, answering after a delay with a
// video URL that the emulator serves itself (bytes = fakeMp4(id)).
//
// Switches: prompt keywords "[fail]" (500 no_video_url), "[never]" (never
// answers), "[vanish]" (the video URL has expired: 404); programmatically
// failNext(), neverFinish, vanish(id), delayMs, and server.faults from common.ts.
import { EmulatorServer, fakeMp4, type EmulatorRequest, type EmulatorResponse } from './common.js';

export interface GrokImagineEmulatorOptions {
  /** The accepted key (default "test-key"); anything else gets 401 {"detail":"未授权访问"}. */
  apiKey?: string;
  /** How long a generation takes (default 200 ms; the real one takes 30–120 s). */
  delayMs?: number;
  port?: number;
}

export interface GrokGeneration {
  id: string;
  prompt: string;
  imageUrl: string;
  model: string;
  created: number;
  expired: boolean;
}

export const GROK_MODEL = 'grok-imagine-0.9';
export const NO_VIDEO_URL_MESSAGE = '视频生成失败：未能获取视频URL';
const PATH = '/v1/videos/generations';

export const grokErrorBody = (message: string, type: string, code: string) => ({ error: { message, type, code } });

export class GrokImagineEmulator {
  readonly server = new EmulatorServer();
  readonly apiKey: string;
  /** Successful generations by id. */
  readonly generations = new Map<string, GrokGeneration>();
  delayMs: number;
  /** Generations never answer while true. */
  neverFinish = false;
  private failNextMessages: string[] = [];
  private seq = 0;
  private pending = new Set<() => void>();

  constructor(opts: GrokImagineEmulatorOptions = {}) {
    this.apiKey = opts.apiKey ?? 'test-key';
    this.delayMs = opts.delayMs ?? 200;
    this.server.route('POST', PATH, (req) => this.generate(req)).route('GET', '/imagine/:file', (req) => this.media(req.params.file!));
  }

  get url(): string {
    return this.server.url;
  }

  /** Generation requests that reached the server (faulted ones included). */
  get createRequests(): number {
    return this.server.requests.filter((r) => r.method === 'POST' && r.path === PATH).length;
  }

  /** The next generation ends with the documented 500 no_video_url (and this message). */
  failNext(message = NO_VIDEO_URL_MESSAGE): void {
    this.failNextMessages.push(message);
  }

  /** The video URL expires: 404 from now on. */
  vanish(id: string): void {
    const g = this.generations.get(id);
    if (g) g.expired = true;
  }

  videoUrl(id: string): string {
    return `${this.url}/imagine/${id}`;
  }

  async close(): Promise<void> {
    for (const release of this.pending) release();
    await this.server.close();
  }

  private async generate(req: EmulatorRequest): Promise<EmulatorResponse> {
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return { status: 401, json: { detail: '未授权访问' } };
    const invalid = validate(req.json);
    if (invalid) return invalid;
    const body = req.json as { image_url: string; prompt: string; model?: string | null };
    const model = body.model ?? GROK_MODEL;
    const imageUrl = body.image_url.trim();
    if (!imageUrl) return { status: 400, json: grokErrorBody('图片URL不能为空', 'validation_error', 'invalid_image_url') };
    if (!/^https?:\/\//i.test(imageUrl) && !/^data:image\/[\w.+-]+;base64,/i.test(imageUrl)) {
      return { status: 400, json: grokErrorBody('图片URL必须是http/https链接或base64格式（data:image/...）', 'validation_error', 'invalid_image_url') };
    }
    if (model !== GROK_MODEL) return { status: 400, json: grokErrorBody(`模型 '${model}' 不是视频生成模型，请使用 ${GROK_MODEL}`, 'validation_error', 'invalid_model') };

    const failMessage = this.failNextMessages.shift() ?? (body.prompt.includes('[fail]') ? NO_VIDEO_URL_MESSAGE : null);
    if (this.neverFinish || body.prompt.includes('[never]')) await new Promise<void>((resolve) => this.pending.add(resolve));
    else await new Promise((r) => setTimeout(r, this.delayMs));
    if (failMessage !== null) return { status: 500, json: grokErrorBody(failMessage, 'video_generation_error', 'no_video_url') };

    const created = Math.floor(Date.now() / 1000);
    const id = `video-${created}${String(++this.seq).padStart(3, '0')}`;
    this.generations.set(id, { id, prompt: body.prompt, imageUrl, model, created, expired: body.prompt.includes('[vanish]') });
    return { json: { id, model, created, video_url: this.videoUrl(id), status: 'completed', prompt: body.prompt } };
  }

  private media(id: string): EmulatorResponse {
    const g = this.generations.get(id);
    if (!g || g.expired) return { status: 404, json: { detail: 'Not Found' } };
    return { headers: { 'content-type': 'video/mp4' }, body: fakeMp4(id) };
  }
}

/** What pydantic/FastAPI says about the body before the handler runs (422). */
function validate(body: unknown): EmulatorResponse | undefined {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { status: 422, json: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body ?? null }] } };
  }
  const b = body as Record<string, unknown>;
  const detail: unknown[] = [];
  for (const field of ['image_url', 'prompt']) {
    const v = b[field];
    if (v === undefined) detail.push({ type: 'missing', loc: ['body', field], msg: 'Field required', input: body });
    else if (typeof v !== 'string') detail.push({ type: 'string_type', loc: ['body', field], msg: 'Input should be a valid string', input: v });
    else if (field === 'prompt' && v.length < 1) detail.push({ type: 'string_too_short', loc: ['body', 'prompt'], msg: 'String should have at least 1 character', input: v, ctx: { min_length: 1 } });
  }
  if (b.model !== undefined && b.model !== null && typeof b.model !== 'string') detail.push({ type: 'string_type', loc: ['body', 'model'], msg: 'Input should be a valid string', input: b.model });
  return detail.length ? { status: 422, json: { detail } } : undefined;
}

export async function startGrokImagineEmulator(opts: GrokImagineEmulatorOptions = {}): Promise<GrokImagineEmulator> {
  const emu = new GrokImagineEmulator(opts);
  await emu.server.listen(opts.port ?? 0);
  return emu;
}
