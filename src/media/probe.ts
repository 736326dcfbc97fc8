// Strict facts about a stored result: it must be what it claims. A video must
// have a video stream that ffprobe reads (its size and duration are then the
// file's own, not what an upstream said); an image must decode. Anything else
// is refused with INVALID_RESULT. An MP4/MOV is read from its boxes in JS
// (mp4-boxes.ts: microseconds, no child process); ffprobe, with a deadline and
// a pixel cap, judges whatever that parser does not vouch for.
import { InvalidMediaError } from './errors.js';
import fsp from 'node:fs/promises';
import { inspectImageFile, type StillImageType } from './image.js';
import { readMp4, type Mp4VideoFacts } from './mp4-boxes.js';
import { sniffContentType } from './sniff.js';
import { decoderPixelCap, ffprobePath, lastErrorLine, runTool } from './tools.js';

export interface MediaFacts {
  /** By content; null when neither the magic bytes nor ffprobe's demuxer name one. */
  contentType: string | null;
  width: number;
  height: number;
  /** Videos only; null when the container does not say. */
  durationSeconds: number | null;
}

export interface ValidateOptions {
  /** Largest frame (width × height) probed or decoded: REELAY_MAX_IMAGE_PIXELS. */
  maxPixels: number;
  signal?: AbortSignal;
  /** Deadline of ffprobe (or the image decode); 30 s when omitted. */
  timeoutMs?: number;
}

const PROBE_TIMEOUT_MS = 30_000;
const RESULT_IMAGE_TYPES: readonly StillImageType[] = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];

/** Fallback when the magic bytes say nothing: ffprobe's demuxer name. */
function typeFromFormat(formatName: string | undefined): string | null {
  const names = (formatName ?? '').split(',');
  if (names.includes('webm') || names.includes('matroska')) return 'video/webm';
  if (names.includes('mpeg')) return 'video/mpeg';
  if (names.includes('ogg')) return 'video/ogg';
  if (names.includes('mov') || names.includes('mp4')) return 'video/mp4';
  if (names.includes('mpegts')) return 'video/mp2t';
  if (names.includes('avi')) return 'video/x-msvideo';
  if (names.includes('flv')) return 'video/x-flv';
  return null;
}

interface ProbeStream {
  codec_type?: string;
  width?: number;
  height?: number;
  duration?: string;
  nb_frames?: string;
  avg_frame_rate?: string;
  disposition?: { attached_pic?: number };
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number }[];
}

const positive = (v: unknown): number | null => {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
};

/** A duration from the frame count when the headers state none (e.g. a zero in mvhd and mdhd). */
function framesOverRate(stream: ProbeStream): number | null {
  const [num, den] = (stream.avg_frame_rate ?? '').split('/').map(Number);
  const frames = positive(stream.nb_frames);
  const fps = num && den ? positive(num / den) : null;
  return frames && fps ? Math.round((frames / fps) * 1000) / 1000 : null;
}

const invalid = (message: string) => new InvalidMediaError('INVALID_RESULT', message);

/** The facts of a video's first video stream: size as viewers see it (rotation applied), within the pixel cap. */
function videoFacts(contentType: string | null, coded: { width?: unknown; height?: unknown }, rotation: number, durationSeconds: number | null, maxPixels: number): MediaFacts {
  let width = positive(coded.width);
  let height = positive(coded.height);
  if (!width || !height) throw invalid('has a video stream without a frame size');
  if (width * height > maxPixels) throw invalid(`has ${width}x${height} frames; at most ${maxPixels} pixels are accepted`);
  // Phone videos store portrait frames as rotated landscape: report what viewers see.
  if (Math.abs(rotation) % 180 === 90) [width, height] = [height, width];
  return { contentType, width, height, durationSeconds };
}

/**
 * The first bytes of a video read at once: enough to sniff it, and for most
 * MP4s every box header and the whole movie index, so judging one costs an
 * open, a stat, one read and a close (each a trip through libuv's thread pool
 * and back, which is what a burst of finishing jobs spends most of the event
 * loop on), instead of a file opened twice and read once per box.
 */
const HEAD_BYTES = 64 * 1024;

interface OpenedVideo {
  /** Its first HEAD_BYTES bytes (all of it when smaller). */
  head: Buffer;
  size: number;
}

/** An MP4/MOV read from its boxes: its facts, a refusal (thrown), or null to ask ffprobe. */
async function fromBoxes(fh: fsp.FileHandle, { head, size }: OpenedVideo): Promise<Mp4VideoFacts | null> {
  const verdict = await readMp4(async (offset, length) => {
    const end = Math.max(offset, Math.min(offset + length, size));
    if (end <= head.length) return head.subarray(offset, end);
    const buf = Buffer.alloc(end - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  }, size);
  if (verdict.kind === 'refused') throw invalid(verdict.reason);
  return verdict.kind === 'video' ? verdict.facts : null;
}

async function validateVideo(file: string, opts: ValidateOptions): Promise<MediaFacts> {
  let sniffed: string | null;
  let boxes: Mp4VideoFacts | null = null;
  const fh = await fsp.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const video = { head: head.subarray(0, bytesRead), size };
    sniffed = sniffContentType(video.head.subarray(0, 64));
    if (sniffed?.startsWith('image/')) throw invalid(`is an image (${sniffed}), not a video`);
    opts.signal?.throwIfAborted();
    if (sniffed === 'video/mp4' || sniffed === 'video/quicktime') boxes = await fromBoxes(fh, video);
  } finally {
    await fh.close();
  }
  if (boxes) {
    const facts = videoFacts(sniffed, boxes, boxes.rotation, boxes.durationSeconds, opts.maxPixels);
    if (facts.durationSeconds !== null) return facts;
    // No duration in the boxes (e.g. a fragmented MP4 whose moov says 0): ffprobe reads it from the
    // fragments; when it cannot, the boxes' facts stand.
    return probeVideo(file, sniffed, opts).then((probed) => ({ ...facts, durationSeconds: probed.durationSeconds }), (err: unknown) => {
      if (err instanceof InvalidMediaError) return facts;
      throw err;
    });
  }
  return probeVideo(file, sniffed, opts);
}

/** A video judged by ffprobe, with a deadline and a pixel cap. */
async function probeVideo(file: string, sniffed: string | null, opts: ValidateOptions): Promise<MediaFacts> {
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  const args = ['-v', 'error', '-max_pixels', decoderPixelCap(opts.maxPixels), '-print_format', 'json', '-show_format', '-show_streams', `file:${file}`];
  const run = await runTool(ffprobePath(), args, { timeoutMs, signal: opts.signal });
  if (run.timedOut) throw invalid(`could not be probed within ${Math.round(timeoutMs / 1000)} s`);
  let parsed: { format?: { format_name?: string; duration?: string }; streams?: ProbeStream[] } | null = null;
  try {
    parsed = run.code === 0 ? JSON.parse(run.stdout) : null;
  } catch {
    parsed = null;
  }
  if (!parsed) {
    const why = lastErrorLine(run.stderr.split(file).join('<result>'));
    throw invalid(`is not a video that ffprobe can read${why ? ` (${why})` : ''}`);
  }
  const formatName = parsed.format?.format_name ?? '';
  // Still-image demuxers (png_pipe, image2, …) show a "video" stream too.
  if (/(^|,)(image2|\w+_pipe)(,|$)/.test(formatName)) throw invalid(`is a still image (${formatName}), not a video`);
  const video = parsed.streams?.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  if (!video) throw invalid('has no video stream');
  const rotation = Number(video.tags?.rotate ?? video.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? 0);
  const durationSeconds = positive(parsed.format?.duration) ?? positive(video.duration) ?? framesOverRate(video);
  return videoFacts(sniffed ?? typeFromFormat(formatName), video, rotation, durationSeconds, opts.maxPixels);
}

/**
 * The facts of a stored result, or InvalidMediaError (code INVALID_RESULT) when it
 * is not what `mediaType` claims. A caller abort rethrows `signal.reason`; a
 * missing ffprobe binary rejects with the spawn error.
 */
export async function validateMedia(file: string, mediaType: 'VIDEO' | 'IMAGE', opts: ValidateOptions): Promise<MediaFacts> {
  if (mediaType === 'VIDEO') return validateVideo(file, opts);
  try {
    const facts = await inspectImageFile(file, { maxPixels: opts.maxPixels, types: RESULT_IMAGE_TYPES, maxSide: Number.POSITIVE_INFINITY, timeoutMs: opts.timeoutMs, signal: opts.signal });
    return { ...facts, durationSeconds: null };
  } catch (err) {
    if (err instanceof InvalidMediaError) throw invalid(err.message);
    throw err;
  }
}
