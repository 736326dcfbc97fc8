// The built-in `local` provider: renders a real MP4 with ffmpeg in a child
// process (title card for text, Ken Burns for an image). Jobs live in memory
// only while they matter: a job is forgotten once a poll has reported how it
// ended (or a while after it ended unpolled), and at once when cancelled. After
// a restart a poll finds the finished file or simply renders again, which is
// harmless because rendering is free and deterministic. At most
// `maxConcurrency` ffmpeg processes run at once: the runner bounds how many
// tasks start, but not how many orphaned renders it resumes (after a restart
// with a lower limit, or with many PROCESSING tasks), and each render is CPU.
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DEFAULT_MAX_IMAGE_PIXELS } from '../../media/image.js';
import { ffmpegPath } from '../../media/tools.js';
import { readImageBytes } from '../image-bytes.js';
import { permanentError } from '../errors.js';
import { Slots } from '../../slots.js';
import type { GenerationRequest, Provider, ProviderCapabilities, ProviderConfig, ProviderDeps, Snapshot } from '../types.js';
import { startRender, type RenderProcess } from './ffmpeg-run.js';
import { buildFfmpegArgs, DEFAULT_DURATION_S, parseProgressLine, planRender, type RenderPlan } from './render.js';

const PREFIX = 'local-';
const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 60_000;
/** How long an ended job nobody polled stays in memory (its file answers after that). */
const KEEP_ENDED_MS = 10 * 60_000;
const DEFAULT_STALL_MS = 30_000;
const require = createRequire(import.meta.url);

type JobState = 'downloading' | 'waiting' | 'rendering' | 'done' | 'failed' | 'cancelled';
interface Job {
  state: JobState;
  progress: number;
  plan: RenderPlan;
  out: string;
  failure?: { code: string; message: string };
  render?: RenderProcess;
  abort: AbortController;
  /** Settles when the background work (download, render, cleanup) is over. */
  settled: Promise<void>;
  /** Forgets an ended job nobody polled. */
  expiry?: NodeJS.Timeout;
}

/** The local provider, with a look into its memory for tests. */
export interface LocalProvider extends Provider {
  /** Task ids of the jobs held in memory. */
  heldJobs(): string[];
}

/** Last stderr line that says something specific, without addresses or our paths. */
export function lastMeaningfulLine(stderr: string, workDir: string): string | null {
  // ffmpeg's closing lines repeat that something failed; the cause comes before them.
  const generic = /^(conversion failed!?|invalid argument|error initializing complex filters\.?|error marking filters as finished|cannot determine format of input stream .* after eof|exiting normally.*)$/i;
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const pick = [...lines].reverse().find((l) => !generic.test(l)) ?? lines.at(-1);
  return pick ? pick.replace(/ @ 0x[0-9a-f]+\]/gi, ']').split(workDir).join('<workdir>').slice(0, 300) : null;
}

function capabilities(models: string[]): ProviderCapabilities {
  return {
    textToVideo: true, imageToVideo: true, cancel: true, progress: true, negativePrompt: false, seed: true,
    durations: { min: 1, max: 60 }, customSize: true, aspectRatios: ['16:9', '9:16', '1:1', '4:3', '3:4', '21:9'],
    models: models.length ? [...models] : ['reelay-title-card'], resubmitSafe: true,
    defaults: { model: models[0] ?? 'reelay-title-card', durationSeconds: DEFAULT_DURATION_S },
  };
}

/** Codes of a failed image URL that keep their name; other trouble is IMAGE_DOWNLOAD_FAILED. */
const IMAGE_CODES = new Set(['INVALID_IMAGE', 'IMAGE_TOO_MANY_PIXELS', 'IMAGE_URL_FORBIDDEN']);

export function createLocalProvider(config: ProviderConfig, deps: ProviderDeps): LocalProvider {
  const ffmpeg = typeof config.options.ffmpegPath === 'string' && config.options.ffmpegPath ? config.options.ffmpegPath : ffmpegPath();
  const stallMs = deps.renderStallMs ?? DEFAULT_STALL_MS;
  const dir = path.join(deps.workDir, 'local');
  const jobs = new Map<string, Job>();
  const renderers = new Slots(config.maxConcurrency);
  const fileId = (taskId: string) => taskId.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
  const outPath = (taskId: string) => path.join(dir, `${fileId(taskId)}.mp4`);

  const completed = (out: string, plan: RenderPlan): Snapshot => ({
    state: 'completed',
    result: { source: { kind: 'file', path: out }, mediaType: 'VIDEO', contentType: 'video/mp4', width: plan.width, height: plan.height, durationSeconds: plan.durationSeconds },
  });

  function forget(taskId: string, job: Job): void {
    clearTimeout(job.expiry);
    if (jobs.get(taskId) === job) jobs.delete(taskId);
  }

  /** Fetch an image URL (SSRF-guarded, decoded under the pixel limit) to `dest`. */
  async function downloadImage(url: string, dest: string, signal: AbortSignal): Promise<void> {
    const { bytes } = await readImageBytes({ kind: 'url', url }, { signal, maxBytes: MAX_IMAGE_BYTES, maxPixels: deps.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS, timeoutMs: DOWNLOAD_TIMEOUT_MS, allowHosts: config.allowHosts });
    await fsp.writeFile(dest, bytes, { signal });
  }

  async function work(taskId: string, job: Job, request: GenerationRequest, signal: AbortSignal): Promise<void> {
    const base = path.join(dir, fileId(taskId));
    const tmp = `${base}.partial.mp4`;
    let image: string | null = null;
    let downloaded: string | null = null;
    const fail = (code: string, message: string) => {
      if (job.state !== 'cancelled') Object.assign(job, { state: 'failed', failure: { code, message } });
    };
    try {
      await fsp.mkdir(dir, { recursive: true });
      if (job.abort.signal.aborted) return; // cancelled meanwhile: never overwrite that state
      if (request.image?.kind === 'url') {
        job.state = 'downloading';
        downloaded = image = `${base}.input`;
        try {
          await downloadImage(request.image.url, downloaded, AbortSignal.any([signal, job.abort.signal]));
        } catch (err) {
          if (job.abort.signal.aborted) return;
          // The caller went away (shutdown): forget the job so a later poll starts over.
          if (signal.aborted) return forget(taskId, job);
          const e = err as { code?: string; message?: string };
          return fail(e.code && IMAGE_CODES.has(e.code) ? e.code : 'IMAGE_DOWNLOAD_FAILED', `could not download the input image: ${e.message ?? String(err)}`);
        }
      } else if (request.image?.kind === 'file') image = request.image.path;
      if (job.abort.signal.aborted) return;

      let fontFile: string;
      try {
        fontFile = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');
      } catch {
        return fail('RENDER_FAILED', 'the font package dejavu-fonts-ttf is not installed');
      }
      job.state = 'waiting';
      let outcome: Awaited<RenderProcess['exited']>;
      try {
        outcome = await renderers.run(async () => {
          if (job.abort.signal.aborted) throw job.abort.signal.reason;
          job.state = 'rendering';
          job.render = startRender(ffmpeg, buildFfmpegArgs(job.plan, { fontFile, output: tmp, image }), {
            stallMs,
            onLine: (line) => {
              const p = parseProgressLine(line, job.plan.durationSeconds);
              if (p !== null && job.state === 'rendering') job.progress = Math.max(job.progress, p);
            },
          });
          return job.render.exited;
        }, { signal: AbortSignal.any([signal, job.abort.signal]) });
      } catch (err) {
        if (job.abort.signal.aborted) return; // cancelled while waiting for a renderer
        if (signal.aborted) return forget(taskId, job); // shutdown while waiting: a later poll starts over
        throw err;
      }
      const { code, error, stderr, stalled } = outcome;
      job.render = undefined;
      if (job.abort.signal.aborted) return; // cancel() or close() killed it
      if (error) {
        return fail(error.code === 'ENOENT' ? 'FFMPEG_NOT_FOUND' : 'RENDER_FAILED', error.code === 'ENOENT' ? `ffmpeg not found at "${ffmpeg}" (install @ffmpeg-installer/ffmpeg or set options.ffmpegPath)` : `could not start ffmpeg: ${error.message}`);
      }
      if (stalled) return fail('RENDER_STALLED', `ffmpeg made no progress for ${stallMs / 1000} s, so the render was stopped`);
      if (code !== 0) return fail('RENDER_FAILED', lastMeaningfulLine(stderr, deps.workDir) ?? `ffmpeg exited with code ${code}`);
      await fsp.rename(tmp, job.out); // only a complete file ever carries the final name
      if (!job.abort.signal.aborted) Object.assign(job, { state: 'done', progress: 1 });
    } catch (err) {
      fail('RENDER_FAILED', `render failed: ${(err as Error).message}`);
    } finally {
      if (job.state !== 'done') await fsp.rm(tmp, { force: true }).catch(() => {});
      if (downloaded) await fsp.rm(downloaded, { force: true }).catch(() => {});
      // Nobody may poll an ended job again (shutdown, a lost lease): do not keep it forever.
      if (jobs.get(taskId) === job) job.expiry = setTimeout(() => forget(taskId, job), KEEP_ENDED_MS).unref();
    }
  }

  function start(taskId: string, request: GenerationRequest, signal: AbortSignal): Job {
    const previous = jobs.get(taskId);
    if (previous) forget(taskId, previous);
    const job: Job = { state: 'rendering', progress: 0, plan: planRender(request), out: outPath(taskId), abort: new AbortController(), settled: Promise.resolve() };
    jobs.set(taskId, job);
    job.settled = work(taskId, job, request, signal);
    return job;
  }

  /** Stop a job: SIGTERM lets ffmpeg exit cleanly, SIGKILL if it lingers. */
  async function stop(job: Job): Promise<void> {
    job.abort.abort();
    await job.render?.stop();
    await job.settled;
  }

  const taskIdOf = (providerTaskId: string) => {
    if (!providerTaskId.startsWith(PREFIX)) throw permanentError('UNKNOWN_TASK', `"${providerTaskId}" is not a local render`);
    return providerTaskId.slice(PREFIX.length);
  };
  const exists = (p: string) => fsp.access(p).then(() => true, () => false);

  return {
    id: config.id,
    kind: 'local',
    capabilities: capabilities(config.models),

    heldJobs: () => [...jobs.keys()],

    async submit(request, ctx) {
      const existing = jobs.get(request.taskId);
      // A resubmission of a live or finished render reuses it instead of starting a second ffmpeg.
      if (!existing || existing.state === 'failed' || existing.state === 'cancelled') start(request.taskId, request, ctx.signal);
      return { providerTaskId: PREFIX + request.taskId };
    },

    async poll(providerTaskId, ctx) {
      const taskId = taskIdOf(providerTaskId);
      const job = jobs.get(taskId);
      switch (job?.state) {
        case 'downloading':
          return { state: 'processing', progress: 0, message: 'downloading the input image' };
        case 'waiting':
          return { state: 'processing', progress: 0, message: 'waiting for a free renderer' };
        case 'rendering':
          return { state: 'processing', progress: job.progress, message: 'rendering' };
        case 'failed':
          forget(taskId, job); // reported: the task records it from here on
          return { state: 'failed', code: job.failure!.code, message: job.failure!.message };
        case 'cancelled':
          return { state: 'cancelled' };
        case 'done':
          forget(taskId, job); // the file answers for it from here on
          if (await exists(job.out)) return completed(job.out, job.plan);
          break; // the file was moved away: render it again below
      }
      const out = outPath(taskId);
      const plan = planRender(ctx.request);
      if (!job && (await exists(out))) return completed(out, plan); // finished before a restart
      // A poll cut short by a cancel or shutdown never starts a render nobody would follow.
      ctx.signal.throwIfAborted();
      start(taskId, ctx.request, ctx.signal);
      return { state: 'processing', progress: 0, message: 'rendering' };
    },

    async cancel(providerTaskId) {
      const taskId = taskIdOf(providerTaskId);
      const job = jobs.get(taskId);
      if (job) {
        job.state = 'cancelled';
        await stop(job);
        forget(taskId, job);
      }
      await fsp.rm(outPath(taskId), { force: true }).catch(() => {});
      await fsp.rm(path.join(dir, `${fileId(taskId)}.partial.mp4`), { force: true }).catch(() => {});
    },

    async close() {
      const live = [...jobs.values()].filter((j) => j.state === 'rendering' || j.state === 'downloading' || j.state === 'waiting');
      await Promise.all(live.map((j) => ((j.state = 'cancelled'), stop(j))));
      for (const [id, j] of jobs) forget(id, j);
    },
  };
}
