// Posters of video results, made lazily: the first request of a task's
// `poster.jpg` runs ffmpeg once (concurrent requests for the same task share
// that run; runs across tasks are bounded), and the JPEG is kept next to the
// result, so it goes when the task's files go. Nothing of this runs in the
// runner: finishing a task costs no ffmpeg.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TaskResult } from '../db/schema.js';
import { typeOfExtension } from '../media/content-types.js';
import { InvalidMediaError } from '../media/errors.js';
import { renderPoster } from '../media/poster.js';
import { validateMedia } from '../media/probe.js';
import { Slots } from '../slots.js';

export const POSTER_NAME = 'poster.jpg';

/** The poster's path under the files directory for a video result; null for an image result. */
export function posterFileOf(result: Pick<TaskResult, 'file' | 'contentType'>): string | null {
  if (result.contentType?.startsWith('image/')) return null;
  return `${path.posix.dirname(result.file)}/${POSTER_NAME}`;
}

export type PosterOutcome =
  /** The poster is on disk. */
  | { kind: 'ready' }
  /** No poster can be made: no video result (yet, or any more), or one ffmpeg cannot decode. */
  | { kind: 'none'; message: string }
  /** Every render slot stayed busy for the whole wait: try again shortly. */
  | { kind: 'busy'; retryAfterSeconds: number };

export interface PosterStoreOptions {
  filesDir: string;
  /** REELAY_MAX_IMAGE_PIXELS: the largest frame decoded. */
  maxPixels: number;
  /** ffmpeg runs at once across tasks; half the cores (at least one) when omitted. */
  concurrency?: number;
  /** Slots shared with other work instead of `concurrency` of its own. */
  slots?: Slots;
  /** Deadline of one probe and of one ffmpeg run; 20 s when omitted. */
  timeoutMs?: number;
  /** Longest wait for a render slot before answering busy; 30 s when omitted. */
  maxWaitMs?: number;
  /** Told about every ffmpeg run that finished: made a poster or not. */
  onRender?: (outcome: 'ok' | 'failed') => void;
}

/** A video that yielded no poster is not tried again for this long (per process). */
const FAILURE_MEMORY_MS = 5 * 60_000;
const MAX_REMEMBERED_FAILURES = 10_000;

class SlotsBusy extends Error {}

export class PosterStore {
  /** ffmpeg runs that finished (made a poster or not), for tests and metrics. */
  renders = 0;
  private readonly inflight = new Map<string, Promise<PosterOutcome>>();
  private readonly failed = new Map<string, { until: number; message: string }>();
  private readonly slots: Slots;
  private readonly stop = new AbortController();
  private seq = 0;

  constructor(private readonly opts: PosterStoreOptions) {
    this.slots = opts.slots ?? new Slots(opts.concurrency ?? Math.max(1, Math.floor(os.availableParallelism() / 2)));
  }

  /** Make sure the poster of `taskId` (a UUID checked by the caller) is on disk. */
  async ensure(taskId: string): Promise<PosterOutcome> {
    const dir = path.join(this.opts.filesDir, taskId);
    if (await isFile(path.join(dir, POSTER_NAME))) return { kind: 'ready' };
    const failure = this.failed.get(taskId);
    if (failure && failure.until > Date.now()) return { kind: 'none', message: failure.message };
    let run = this.inflight.get(taskId);
    if (!run) {
      run = this.make(taskId, dir).finally(() => this.inflight.delete(taskId));
      this.inflight.set(taskId, run);
    }
    return run;
  }

  /** Stop renders in flight (shutdown). */
  close(): void {
    this.stop.abort(new Error('shutting down'));
  }

  private async make(taskId: string, dir: string): Promise<PosterOutcome> {
    const video = await videoResultIn(dir);
    if (!video) return { kind: 'none', message: 'this task has no video result' };
    const out = path.join(dir, POSTER_NAME);
    const maxWaitMs = this.opts.maxWaitMs ?? 30_000;
    try {
      return await this.slots.run(() => this.render(taskId, video, out), { signal: this.stop.signal, maxWaitMs, onTimeout: () => new SlotsBusy() });
    } catch (err) {
      if (err instanceof SlotsBusy) return { kind: 'busy', retryAfterSeconds: 5 };
      throw err;
    }
  }

  private async render(taskId: string, video: string, out: string): Promise<PosterOutcome> {
    // Made by another request (or another replica) while this one waited.
    if (await isFile(out)) return { kind: 'ready' };
    const timeoutMs = this.opts.timeoutMs ?? 20_000;
    const tmp = path.join(path.dirname(out), `.poster-${process.pid}-${++this.seq}.jpg`);
    const common = { maxPixels: this.opts.maxPixels, timeoutMs, signal: this.stop.signal };
    try {
      const facts = await validateMedia(video, 'VIDEO', common);
      await renderPoster(video, tmp, { ...common, durationSeconds: facts.durationSeconds });
      this.counted('ok');
      await fsp.rename(tmp, out);
      return { kind: 'ready' };
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      if (err instanceof InvalidMediaError) {
        this.counted('failed');
        return this.remember(taskId, `no poster: the video result ${err.message}`);
      }
      // The task was deleted (its directory removed) meanwhile.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await isFile(video))) return { kind: 'none', message: 'this task has no video result' };
      throw err;
    }
  }

  private counted(outcome: 'ok' | 'failed'): void {
    this.renders++;
    this.opts.onRender?.(outcome);
  }

  private remember(taskId: string, message: string): PosterOutcome {
    if (this.failed.size >= MAX_REMEMBERED_FAILURES) this.failed.delete(this.failed.keys().next().value!);
    this.failed.set(taskId, { until: Date.now() + FAILURE_MEMORY_MS, message });
    return { kind: 'none', message };
  }
}

async function isFile(file: string): Promise<boolean> {
  return fsp.stat(file).then((s) => s.isFile(), () => false);
}

/** The stored `result.<ext>` of a task when it is not an image (a video, or bytes of an unknown type). */
async function videoResultIn(dir: string): Promise<string | null> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const name = names.find((n) => n.startsWith('result.') && !typeOfExtension(path.extname(n)).startsWith('image/'));
  return name ? path.join(dir, name) : null;
}
