// One poster frame of a video as a JPEG: the frame at 10 % of the duration or
// 1 s, whichever is earlier (past a fade-in, still early enough to show what
// the video is), scaled down to at most 640 px wide. ffmpeg runs with a
// deadline and a decoder pixel cap; a video it cannot decode is an
// InvalidMediaError, never a hang.
import fsp from 'node:fs/promises';
import { InvalidMediaError } from './errors.js';
import { decoderPixelCap, ffmpegPath, lastErrorLine, runTool } from './tools.js';

export const POSTER_MAX_WIDTH = 640;

export interface PosterOptions {
  /** The video's duration when known (seeks to 10 % of it, at most 1 s). */
  durationSeconds: number | null;
  /** REELAY_MAX_IMAGE_PIXELS: the largest frame decoded. */
  maxPixels: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Where the poster frame is taken from. */
export function posterSeconds(durationSeconds: number | null): number {
  return durationSeconds && durationSeconds > 0 ? Math.min(1, durationSeconds / 10) : 0;
}

async function extract(video: string, out: string, at: number, opts: PosterOptions): Promise<{ ok: boolean; why: string | null; timedOut: boolean }> {
  const args = [
    '-nostdin', '-hide_banner', '-v', 'error', '-y',
    '-max_pixels', decoderPixelCap(opts.maxPixels),
    // Seeking before -i jumps to the nearest keyframe and decodes up to `at`: fast on long videos.
    ...(at > 0 ? ['-ss', at.toFixed(3)] : []),
    '-i', `file:${video}`,
    // The first video stream that is not a cover picture.
    '-map', '0:V:0',
    '-frames:v', '1', '-an', '-sn', '-dn',
    '-vf', `scale='min(${POSTER_MAX_WIDTH},iw)':-2:flags=bicubic,format=yuvj420p`,
    '-q:v', '4', '-f', 'image2', '-c:v', 'mjpeg',
    `file:${out}`,
  ];
  const run = await runTool(ffmpegPath(), args, { timeoutMs: opts.timeoutMs, signal: opts.signal, maxStdout: 64 * 1024 });
  const size = await fsp.stat(out).then((s) => s.size, () => 0);
  return { ok: run.code === 0 && size > 0, why: lastErrorLine(run.stderr.split(video).join('<video>')), timedOut: run.timedOut };
}

/**
 * Write the poster of `video` to `out` (overwritten). Throws InvalidMediaError
 * (INVALID_RESULT) when no frame can be decoded in time; rethrows the caller's abort.
 */
export async function renderPoster(video: string, out: string, opts: PosterOptions): Promise<void> {
  const at = posterSeconds(opts.durationSeconds);
  let attempt = await extract(video, out, at, opts);
  // A duration that overstates the stream (or a seek past its last keyframe) yields no frame: take the first.
  if (!attempt.ok && !attempt.timedOut && at > 0) attempt = await extract(video, out, 0, opts);
  if (attempt.ok) return;
  await fsp.rm(out, { force: true }).catch(() => {});
  if (attempt.timedOut) throw new InvalidMediaError('INVALID_RESULT', `no poster frame could be decoded within ${Math.round(opts.timeoutMs / 1000)} s`);
  throw new InvalidMediaError('INVALID_RESULT', `no poster frame could be decoded${attempt.why ? ` (${attempt.why})` : ''}`);
}
