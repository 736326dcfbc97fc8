// The built-in `local` provider: renders a real MP4 with ffmpeg in a child
// process (title card for text, Ken Burns for an image). Jobs live in memory;
// after a restart a poll finds the finished file or simply renders again,
// which is harmless because rendering is free and deterministic.
import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { sniffContentType } from '../../media/probe.js';
import { safeFetchBytes } from '../../net/safe-fetch.js';
import { permanentError } from '../errors.js';
import type { GenerationRequest, Provider, ProviderCapabilities, ProviderFactory, Snapshot } from '../types.js';
import { buildFfmpegArgs, parseProgressLine, planRender, type RenderPlan } from './render.js';

const PREFIX = 'local-';
const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 60_000;
const TERM_GRACE_MS = 1_500;
const KEEP_DONE_MS = 10 * 60_000;
const require = createRequire(import.meta.url);

type JobState = 'downloading' | 'rendering' | 'done' | 'failed' | 'cancelled';
interface Job {
  state: JobState;
  progress: number;
  plan: RenderPlan;
  out: string;
  failure?: { code: string; message: string };
  child?: ChildProcess;
  abort: AbortController;
  /** Settles when the background work (download, render, cleanup) is over. */
  settled: Promise<void>;
  endedAt?: number;
}

// Every live ffmpeg of this process, so none outlives it (no orphans on exit).
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => liveChildren.forEach((c) => c.kill('SIGKILL')));

function resolveFfmpeg(option: unknown): string {
  if (typeof option === 'string' && option) return option;
  try {
    return (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  } catch {
    return 'ffmpeg'; // the installer throws when its binary is missing: try PATH
  }
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
  };
}

/** Fetch an image URL (SSRF-guarded) to `dest`, refusing anything over 20 MB or not an image. */
async function downloadImage(url: string, dest: string, signal: AbortSignal, allowHosts: readonly string[]): Promise<void> {
  const { bytes } = await safeFetchBytes(url, { allowHosts, maxBytes: MAX_IMAGE_BYTES, timeoutMs: DOWNLOAD_TIMEOUT_MS, signal, accept: 'image/*' });
  if (!sniffContentType(bytes.subarray(0, 16))?.startsWith('image/')) throw permanentError('INVALID_IMAGE', 'the input URL did not return a PNG, JPEG, WebP or GIF image');
  await fsp.writeFile(dest, bytes, { signal });
}

export const createLocalProvider: ProviderFactory = (config, deps) => {
  const ffmpeg = resolveFfmpeg(config.options.ffmpegPath);
  const dir = path.join(deps.workDir, 'local');
  const jobs = new Map<string, Job>();
  const fileId = (taskId: string) => taskId.replace(/[^A-Za-z0-9_-]/g, '_') || '_';
  const outPath = (taskId: string) => path.join(dir, `${fileId(taskId)}.mp4`);

  const completed = (out: string, plan: RenderPlan): Snapshot => ({
    state: 'completed',
    result: { source: { kind: 'file', path: out }, mediaType: 'VIDEO', contentType: 'video/mp4', width: plan.width, height: plan.height, durationSeconds: plan.durationSeconds },
  });

  /** Run ffmpeg; resolves with its exit (or spawn error) once stdio is drained. */
  function runFfmpeg(job: Job, args: string[]): Promise<{ code: number | null; error?: NodeJS.ErrnoException; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      job.child = child;
      liveChildren.add(child);
      let stderr = '';
      let partial = '';
      let ended = false;
      const end = (code: number | null, error?: NodeJS.ErrnoException) => {
        if (ended) return;
        ended = true;
        liveChildren.delete(child);
        job.child = undefined;
        resolve({ code, error, stderr });
      };
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          const p = parseProgressLine(line, job.plan.durationSeconds);
          if (p !== null && job.state === 'rendering') job.progress = Math.max(job.progress, p);
        }
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-8192);
      });
      // A failed spawn only reports 'error'; a run ends with 'close' once stdio is drained.
      // Node reaps the child either way, so no zombies are left behind.
      child.on('error', (err) => {
        if (child.pid === undefined) end(null, err); // other errors (a failed kill) leave it running
      });
      child.on('close', (code) => end(code));
    });
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
          await downloadImage(request.image.url, downloaded, AbortSignal.any([signal, job.abort.signal]), config.allowHosts);
        } catch (err) {
          if (job.abort.signal.aborted) return;
          // The caller went away (shutdown): forget the job so a later poll starts over.
          if (signal.aborted) return void (jobs.get(taskId) === job && jobs.delete(taskId));
          const e = err as { code?: string; message?: string };
          return fail(e.code === 'IMAGE_TOO_LARGE' || e.code === 'INVALID_IMAGE' || e.code === 'IMAGE_URL_FORBIDDEN' ? e.code : 'IMAGE_DOWNLOAD_FAILED', `could not download the input image: ${e.message ?? String(err)}`);
        }
      } else if (request.image?.kind === 'file') image = request.image.path;
      if (job.abort.signal.aborted) return;

      let fontFile: string;
      try {
        fontFile = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');
      } catch {
        return fail('RENDER_FAILED', 'the font package dejavu-fonts-ttf is not installed');
      }
      job.state = 'rendering';
      const { code, error, stderr } = await runFfmpeg(job, buildFfmpegArgs(job.plan, { fontFile, output: tmp, image }));
      if (job.abort.signal.aborted) return; // cancel() or close() killed it
      if (error) {
        return fail(error.code === 'ENOENT' ? 'FFMPEG_NOT_FOUND' : 'RENDER_FAILED', error.code === 'ENOENT' ? `ffmpeg not found at "${ffmpeg}" (install @ffmpeg-installer/ffmpeg or set options.ffmpegPath)` : `could not start ffmpeg: ${error.message}`);
      }
      if (code !== 0) return fail('RENDER_FAILED', lastMeaningfulLine(stderr, deps.workDir) ?? `ffmpeg exited with code ${code}`);
      await fsp.rename(tmp, job.out); // only a complete file ever carries the final name
      if (!job.abort.signal.aborted) Object.assign(job, { state: 'done', progress: 1 });
    } catch (err) {
      fail('RENDER_FAILED', `render failed: ${(err as Error).message}`);
    } finally {
      job.endedAt = Date.now();
      if (job.state !== 'done') await fsp.rm(tmp, { force: true }).catch(() => {});
      if (downloaded) await fsp.rm(downloaded, { force: true }).catch(() => {});
    }
  }

  function start(taskId: string, request: GenerationRequest, signal: AbortSignal): Job {
    const now = Date.now();
    for (const [id, j] of jobs) if (j.state === 'done' && j.endedAt && now - j.endedAt > KEEP_DONE_MS) jobs.delete(id); // the file answers for them
    const job: Job = { state: 'rendering', progress: 0, plan: planRender(request), out: outPath(taskId), abort: new AbortController(), settled: Promise.resolve() };
    jobs.set(taskId, job);
    job.settled = work(taskId, job, request, signal);
    return job;
  }

  /** Stop a job: SIGTERM lets ffmpeg exit cleanly, SIGKILL if it lingers. */
  async function stop(job: Job): Promise<void> {
    job.abort.abort();
    const child = job.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
      await job.settled;
      clearTimeout(timer);
    } else await job.settled;
  }

  const taskIdOf = (providerTaskId: string) => {
    if (!providerTaskId.startsWith(PREFIX)) throw permanentError('UNKNOWN_TASK', `"${providerTaskId}" is not a local render`);
    return providerTaskId.slice(PREFIX.length);
  };
  const exists = (p: string) => fsp.access(p).then(() => true, () => false);

  const provider: Provider = {
    id: config.id,
    kind: 'local',
    capabilities: capabilities(config.models),

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
        case 'rendering':
          return { state: 'processing', progress: job.progress, message: 'rendering' };
        case 'failed':
          return { state: 'failed', code: job.failure!.code, message: job.failure!.message };
        case 'cancelled':
          return { state: 'cancelled' };
        case 'done':
          if (await exists(job.out)) return completed(job.out, job.plan);
          break; // the file was moved away: render it again below
      }
      const out = outPath(taskId);
      const plan = planRender(ctx.request);
      if (!job && (await exists(out))) return completed(out, plan); // finished before a restart
      start(taskId, ctx.request, ctx.signal);
      return { state: 'processing', progress: 0, message: 'rendering' };
    },

    async cancel(providerTaskId) {
      const taskId = taskIdOf(providerTaskId);
      const job = jobs.get(taskId);
      if (!job) {
        // Unknown after a restart: remember the cancellation so a poll does not render again.
        const stub: Job = { state: 'cancelled', progress: 0, plan: planRender({ taskId, prompt: '' }), out: outPath(taskId), abort: new AbortController(), settled: Promise.resolve(), endedAt: Date.now() };
        jobs.set(taskId, stub);
      } else if (job.state !== 'cancelled') {
        job.state = 'cancelled';
        await stop(job);
      }
      await fsp.rm(outPath(taskId), { force: true }).catch(() => {});
      await fsp.rm(path.join(dir, `${fileId(taskId)}.partial.mp4`), { force: true }).catch(() => {});
    },

    async close() {
      await Promise.all([...jobs.values()].filter((j) => j.state === 'rendering' || j.state === 'downloading').map((j) => {
        j.state = 'cancelled';
        return stop(j);
      }));
    },
  };
  return provider;
};
