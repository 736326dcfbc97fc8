// Media facts for stored files: ffprobe for duration and size, magic bytes
// for the content type. Probing is best effort: a missing or failing ffprobe
// yields nulls, never an error, because a result is still worth keeping.
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';

export interface MediaInfo {
  durationSeconds: number | null;
  width: number | null;
  height: number | null;
  contentType: string | null;
}

const NOTHING: MediaInfo = { durationSeconds: null, width: null, height: null, contentType: null };
const PROBE_TIMEOUT_MS = 30_000;
const MAX_OUTPUT = 4 * 1024 * 1024;

let ffprobePath: string | undefined;
function ffprobe(): string {
  if (ffprobePath === undefined) {
    try {
      ffprobePath = (createRequire(import.meta.url)('@ffprobe-installer/ffprobe') as { path: string }).path;
    } catch {
      ffprobePath = 'ffprobe'; // the installer throws when its binary is absent: try PATH
    }
  }
  return ffprobePath;
}

const ascii = (b: Buffer, from: number, to: number) => b.subarray(from, to).toString('latin1');

/** Content type from the first bytes (16 are enough), or null when unrecognized. */
export function sniffContentType(firstBytes: Buffer): string | null {
  const b = firstBytes;
  if (b.length >= 12 && ascii(b, 4, 8) === 'ftyp') {
    const brand = ascii(b, 8, 12);
    if (brand === 'qt  ') return 'video/quicktime';
    if (brand === 'avif' || brand === 'avis') return 'image/avif';
    if (['heic', 'heix', 'mif1', 'msf1'].includes(brand)) return 'image/heic';
    return 'video/mp4';
  }
  if (b.length >= 4 && b.readUInt32BE(0) === 0x1a45dfa3) return 'video/webm';
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return 'image/webp';
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'image/gif';
  return null;
}

/** Fallback when the magic bytes say nothing: ffprobe's demuxer name. */
function typeFromFormat(formatName: string | undefined, codec: string | undefined): string | null {
  const names = (formatName ?? '').split(',');
  if (names.includes('webm') || names.includes('matroska')) return 'video/webm';
  if (names.includes('mov') || names.includes('mp4')) return 'video/mp4';
  if (names.includes('gif')) return 'image/gif';
  if (names.includes('png_pipe') || codec === 'png') return 'image/png';
  if (names.includes('jpeg_pipe') || codec === 'mjpeg') return 'image/jpeg';
  if (names.includes('webp_pipe') || codec === 'webp') return 'image/webp';
  return null;
}

/** The first `n` bytes of a file (fewer when it is shorter), for sniffing its type. */
export async function readHead(path: string, n = 16): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Run ffprobe and resolve with its stdout, or null on any failure (missing binary, timeout, abort). */
function runProbe(path: string, signal?: AbortSignal): Promise<string | null> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(null);
    const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', `file:${path}`];
    let out = '';
    let done = false;
    const child = spawn(ffprobe(), args, { stdio: ['ignore', 'pipe', 'ignore'] });
    const finish = (value: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      resolve(value);
    };
    const kill = () => {
      child.kill('SIGKILL');
      finish(null);
    };
    const timer = setTimeout(kill, PROBE_TIMEOUT_MS);
    signal?.addEventListener('abort', kill, { once: true });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.length > MAX_OUTPUT) kill();
    });
    child.on('error', () => finish(null));
    child.on('close', (code) => finish(code === 0 ? out : null));
  });
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  duration?: string;
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number }[];
}

const positive = (v: unknown): number | null => {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
};

/** Duration, display size and content type of a media file; nulls where unknown. */
export async function probeMedia(path: string, signal?: AbortSignal): Promise<MediaInfo> {
  let sniffed: string | null = null;
  try {
    sniffed = sniffContentType(await readHead(path));
  } catch {
    return NOTHING; // unreadable file: ffprobe would fail too
  }
  const text = await runProbe(path, signal);
  let parsed: { format?: { format_name?: string; duration?: string }; streams?: ProbeStream[] } | null = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!parsed) return { ...NOTHING, contentType: sniffed };
  const video = parsed.streams?.find((s) => s.codec_type === 'video' && s.width && s.height);
  const contentType = sniffed ?? typeFromFormat(parsed.format?.format_name, video?.codec_name);
  let width = positive(video?.width);
  let height = positive(video?.height);
  // Phone videos store portrait frames as rotated landscape: report what viewers see.
  const rotation = Number(video?.tags?.rotate ?? video?.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? 0);
  if (Math.abs(rotation) % 180 === 90) [width, height] = [height, width];
  const still = contentType === 'image/png' || contentType === 'image/jpeg' || contentType === 'image/webp';
  const durationSeconds = still ? null : (positive(parsed.format?.duration) ?? positive(video?.duration));
  return { durationSeconds, width, height, contentType };
}
