// Pure pieces of the built-in renderer: request → render plan → ffmpeg
// arguments, and ffmpeg `-progress` lines → a 0..1 fraction. Everything here
// is deterministic so the same request always yields byte-identical video.
import type { GenerationRequest } from '../types.js';

export const FPS = 24;
/** Seconds rendered when a request names no duration. */
export const DEFAULT_DURATION_S = 5;
const DEFAULT_W = 1280;
const DEFAULT_H = 720;

export interface RenderPlan {
  width: number;
  height: number;
  /** frames / FPS: what the file will really contain. */
  durationSeconds: number;
  frames: number;
  seed: number;
  prompt: string;
}

export interface RenderIo {
  fontFile: string;
  output: string;
  /** Local path of the input image (image-to-video). */
  image?: string | null;
}

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const even = (v: number) => clamp(Math.round(v / 2) * 2, 64, 1920);
const num = (v: number) => String(Math.round(v * 1000) / 1000);

/** width/height from explicit values, else from the aspect ratio with the long side 1280. */
export function deriveSize(req: Pick<GenerationRequest, 'width' | 'height' | 'aspectRatio'>): { width: number; height: number } {
  const m = /^\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*$/.exec(req.aspectRatio ?? '');
  const ratio = m && Number(m[1]) > 0 && Number(m[2]) > 0 ? Number(m[1]) / Number(m[2]) : null;
  const w = req.width && req.width > 0 ? req.width : null;
  const h = req.height && req.height > 0 ? req.height : null;
  if (w && h) return { width: even(w), height: even(h) };
  const r = ratio ?? DEFAULT_W / DEFAULT_H;
  if (w) return { width: even(w), height: even(w / r) };
  if (h) return { width: even(h * r), height: even(h) };
  if (!ratio) return { width: DEFAULT_W, height: DEFAULT_H };
  return r >= 1 ? { width: even(1280), height: even(1280 / r) } : { width: even(1280 * r), height: even(1280) };
}

/** 32-bit FNV-1a: a stable default seed from the prompt. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

export function planRender(req: GenerationRequest): RenderPlan {
  const { width, height } = deriveSize(req);
  const seconds = clamp(typeof req.durationSeconds === 'number' && Number.isFinite(req.durationSeconds) ? req.durationSeconds : DEFAULT_DURATION_S, 1, 60);
  const frames = Math.round(seconds * FPS);
  const seed = typeof req.seed === 'number' && Number.isFinite(req.seed) ? Math.trunc(Math.abs(req.seed)) % 2 ** 32 : hashString(req.prompt ?? '');
  return { width, height, frames, durationSeconds: frames / FPS, seed, prompt: req.prompt ?? '' };
}

/** mulberry32: tiny seeded PRNG, so palettes and motion follow the seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rgb = [number, number, number];
// Dark bases keep white text readable; two glow colours and an accent each.
const PALETTES: { bg: [Rgb, Rgb]; glow: [Rgb, Rgb]; accent: Rgb }[] = [
  { bg: [[11, 16, 38], [30, 20, 62]], glow: [[108, 92, 231], [0, 184, 148]], accent: [143, 180, 255] },
  { bg: [[24, 10, 14], [50, 18, 32]], glow: [[255, 107, 74], [255, 190, 92]], accent: [255, 170, 128] },
  { bg: [[6, 22, 33], [12, 44, 66]], glow: [[0, 150, 199], [72, 202, 228]], accent: [144, 224, 239] },
  { bg: [[10, 24, 18], [22, 48, 34]], glow: [[46, 196, 120], [170, 220, 90]], accent: [180, 240, 170] },
  { bg: [[30, 12, 28], [56, 20, 50]], glow: [[236, 72, 153], [168, 85, 247]], accent: [249, 168, 212] },
  { bg: [[16, 18, 24], [36, 40, 52]], glow: [[234, 179, 8], [99, 102, 241]], accent: [253, 224, 71] },
  { bg: [[8, 28, 30], [18, 50, 54]], glow: [[20, 184, 166], [251, 113, 133]], accent: [153, 246, 228] },
  { bg: [[20, 14, 40], [44, 24, 70]], glow: [[139, 92, 246], [244, 114, 182]], accent: [196, 181, 253] },
];
const hex = (c: Rgb) => '0x' + c.map((v) => v.toString(16).padStart(2, '0')).join('');

/** Approximate DejaVu Sans advance widths in em, good enough to wrap lines. */
function emWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += /[ .,:;'!|ilIjftr()[\]"`]/.test(ch) ? 0.36 : /[mwMW@%]/.test(ch) ? 0.95 : /[A-Z0-9#&]/.test(ch) ? 0.72 : 0.62;
  return w;
}

/** Greedy word wrap to `maxEm` per line; overlong words are cut, overflow ends in an ellipsis. */
export function wrapText(text: string, maxEm: number, maxLines: number): string[] {
  const words = text.replace(/[\p{C}\s]+/gu, ' ').trim().split(' ').filter(Boolean);
  const lines: string[] = [];
  let cur = '';
  for (let word of words) {
    if (lines.length > maxLines) break;
    while (emWidth(word) > maxEm) {
      // Cut an overlong word at the widest prefix that fits.
      const chars = Array.from(word);
      let n = chars.length - 1;
      while (n > 1 && emWidth(chars.slice(0, n).join('')) > maxEm) n--;
      if (cur) lines.push(cur);
      lines.push(chars.slice(0, n).join(''));
      cur = '';
      word = chars.slice(n).join('');
    }
    const next = cur ? `${cur} ${word}` : word;
    if (emWidth(next) <= maxEm) cur = next;
    else {
      lines.push(cur);
      cur = word;
    }
  }
  if (cur) lines.push(cur);
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  let last = kept[maxLines - 1];
  while (last && emWidth(last + ' …') > maxEm) last = last.includes(' ') ? last.slice(0, last.lastIndexOf(' ')) : Array.from(last).slice(0, -1).join('');
  kept[maxLines - 1] = `${last.replace(/[\s.,;:!?-]+$/, '')}…`;
  return kept;
}

/**
 * Escape a literal for a filter option inside -filter_complex: ffmpeg
 * unescapes twice (option level: \ ' :, then graph level: \ ' [ ] , ;).
 * drawtext runs with expansion=none, so % needs no escaping at all.
 */
export function escapeFilterText(s: string): string {
  const opt = s.replace(/[\\':]/g, '\\$&');
  return opt.replace(/[\\'[\],;]/g, '\\$&');
}

/** Fit text: shrink the font up to ~25 % before truncating with an ellipsis. */
function fitText(text: string, baseSize: number, boxW: number, maxLines: number): { size: number; lines: string[] } {
  for (const scale of [1, 0.87, 0.75]) {
    const size = Math.max(8, Math.round(baseSize * scale));
    const lines = wrapText(text, boxW / size, maxLines + 1);
    if (lines.length <= maxLines || scale === 0.75) return { size, lines: lines.length > maxLines ? wrapText(text, boxW / size, maxLines) : lines };
  }
  throw new Error('unreachable');
}

/** A fade from 0 to 1 starting at `start` lasting `dur`, as an ffmpeg expression of t. */
const ramp = (start: number, dur: number) => `min(1,max(0,(t-${num(start)})/${num(dur)}))`;

function drawtext(font: string, text: string, opts: Record<string, string | number>): string {
  const extra = Object.entries(opts).map(([k, v]) => `${k}=${typeof v === 'string' && /[,(]/.test(v) ? `'${v}'` : v}`);
  return ['drawtext=fontfile=' + escapeFilterText(font), 'expansion=none', 'text=' + escapeFilterText(text), ...extra].join(':');
}

/** A still RGBA layer computed once with geq (slow per pixel, so small) and looped; setsar keeps pixels square after the stretch. */
function stillLayer(size: string, geq: string, scaleTo: string, label: string, pixFmt = 'yuva420p'): string {
  return `color=c=black:s=${size}:r=${FPS}:d=1,trim=end_frame=1,format=rgba,geq=${geq},scale=${scaleTo}:flags=bicubic,setsar=1,format=${pixFmt},loop=loop=-1:size=1,setpts=N/${FPS}/TB[${label}]`;
}

/** Caption lines that fade in one after another while sliding up a little. */
function captionLines(font: string, lines: string[], size: number, x: string, y0: number, plan: RenderPlan): string[] {
  const lh = Math.round(size * 1.3);
  const dur = Math.min(0.7, plan.durationSeconds * 0.35);
  return lines.map((line, i) => {
    const a = ramp(Math.min(0.25, plan.durationSeconds * 0.1) + i * Math.min(0.12, plan.durationSeconds * 0.05), dur);
    return drawtext(font, line, {
      fontsize: size, fontcolor: 'white', shadowcolor: 'black@0.45', shadowx: 0, shadowy: Math.max(1, Math.round(size / 24)),
      x, y: `${y0 + i * lh}+${Math.round(size * 0.35)}*pow(1-${a},2)`, alpha: a,
    });
  });
}

/** The whole ffmpeg argument list for a plan (title card, or Ken Burns when an image is given). */
export function buildFfmpegArgs(plan: RenderPlan, io: RenderIo): string[] {
  const { width: W, height: H, frames: N } = plan;
  const rand = rng(plan.seed);
  const pal = PALETTES[Math.floor(rand() * PALETTES.length)];
  const font = io.fontFile;
  const filters: string[] = [];
  const barH = Math.max(2, Math.round(Math.min(W, H) / 360) * 2);
  const small = Math.max(9, Math.round(Math.min(W, H) * 0.028));
  const margin = Math.round(Math.min(W, H) * 0.04);
  const mark = drawtext(font, 'reelay · local', { fontsize: small, fontcolor: 'white@0.55', shadowcolor: 'black@0.4', shadowx: 0, shadowy: 1, x: `w-text_w-${margin}`, y: io.image ? margin : `h-text_h-${margin + barH}` });

  if (io.image) {
    // Ken Burns: upscale first so zoompan's integer crop steps are sub-pixel in the output.
    // Crop to the frame's aspect ratio before scaling: scaling to cover the frame first
    // would turn a 16384×1 image into a frame of billions of pixels.
    const k = Math.min(3, 4000 / Math.max(W, H));
    const KW = Math.round((W * k) / 2) * 2;
    const KH = Math.round((H * k) / 2) * 2;
    const p = `min(1,on/${N - 1})`;
    const e = `(3-2*${p})*${p}*${p}`; // smoothstep easing
    const zoomIn = rand() < 0.5;
    const [x0, x1, y0, y1] = [rand(), rand(), rand(), rand()].map((v) => 0.15 + 0.7 * v);
    const z = zoomIn ? `1+0.2*${e}` : `1.2-0.2*${e}`;
    filters.push(
      `[0:v]trim=end_frame=1,setsar=1,crop=w='max(1,min(iw,ih*${KW}/${KH}))':h='max(1,min(ih,iw*${KH}/${KW}))':exact=1,scale=${KW}:${KH}:flags=bicubic,format=yuv420p,` +
        `zoompan=z='${z}':x='(iw-iw/zoom)*(${num(x0)}+${num(x1 - x0)}*${e})':y='(ih-ih/zoom)*(${num(y0)}+${num(y1 - y0)}*${e})':d=${N}:s=${W}x${H}:fps=${FPS},setsar=1,trim=end_frame=${N}[base]`,
      stillLayer('4x64', `r=0:g=0:b=0:a='215*pow(Y/63,1.6)'`, `${W}:${Math.round(H * 0.45)}`, 'shade'),
    );
    const { size, lines } = fitText(plan.prompt, Math.round(Math.min(W * 0.036, H * 0.058)), W - 2 * margin - W * 0.08, 3);
    const lh = Math.round(size * 1.3);
    const top = H - barH - margin - Math.round(size * 0.4) - lines.length * lh;
    filters.push([`[base][shade]overlay=x=0:y=H-h:shortest=1`, ...captionLines(font, lines, size, String(margin + Math.round(W * 0.01)), top, plan), mark].join(',') + '[card]');
  } else {
    const [c0, c1] = pal.bg;
    const mix = (i: number) => `'${c0[i]}+${c1[i] - c0[i]}*(0.55*X/W+0.45*Y/H)'`;
    filters.push(stillLayer('160x90', `r=${mix(0)}:g=${mix(1)}:b=${mix(2)}`, `${W}:${H}`, 'bg0', 'yuv420p'), `[bg0]trim=end_frame=${N}[bg]`);
    // Two soft glows (Gaussian blobs computed once) drifting on slow Lissajous paths.
    const mean = Math.sqrt(W * H);
    const glows = pal.glow.map((c, i) => {
      const size = Math.round(mean * (i ? 0.7 : 0.85));
      const cx = W * (i ? 0.62 + 0.18 * rand() : 0.2 + 0.18 * rand());
      const cy = H * (i ? 0.55 + 0.25 * rand() : 0.2 + 0.25 * rand());
      const [ax, ay, wx, wy, px, py] = [W * 0.12, H * 0.12, 0.25 + 0.35 * rand(), 0.25 + 0.35 * rand(), rand() * 6.283, rand() * 6.283];
      filters.push(stillLayer('128x128', `r=${c[0]}:g=${c[1]}:b=${c[2]}:a='${i ? 120 : 150}*exp(-((X-64)*(X-64)+(Y-64)*(Y-64))/800)'`, `${size}:${size}`, `g${i}`));
      return `overlay=x='${num(cx - size / 2)}+${num(ax)}*sin(t*${num(wx)}+${num(px)})':y='${num(cy - size / 2)}+${num(ay)}*cos(t*${num(wy)}+${num(py)})':shortest=1`;
    });
    const { size, lines } = fitText(plan.prompt || 'untitled', Math.round(Math.min(W * (H > W ? 0.066 : 0.05), H * 0.085)), W * 0.84, H > W ? 6 : 4);
    const lh = Math.round(size * 1.3);
    const top = Math.round((H - lines.length * lh) / 2 - H * 0.03);
    const ulW = Math.max(8, Math.round(W * 0.08 / 2) * 2);
    const ulH = Math.max(2, Math.round(H / 240) * 2);
    filters.push(
      `[bg][g0]${glows[0]}[l0]`,
      `[l0][g1]${glows[1]},vignette=PI/7,${captionLines(font, lines, size, '(w-text_w)/2', top, plan).join(',')},${mark}[txt]`,
      // An accent rule under the text, fading in after it.
      `color=c=${hex(pal.accent)}:s=${ulW}x${ulH}:r=${FPS},format=yuva420p,fade=t=in:st=${num(Math.min(0.6, plan.durationSeconds * 0.3))}:d=${num(Math.min(0.6, plan.durationSeconds * 0.3))}:alpha=1[ul]`,
      `[txt][ul]overlay=x=${(W - ulW) / 2}:y=${top + lines.length * lh + Math.round(size * 0.45)}:shortest=1[card]`,
    );
  }
  // Progress bar along the bottom over a faint track: slides in, full on the last frame.
  filters.push(
    `color=c=${hex(pal.accent)}:s=${W}x${barH}:r=${FPS}[bar]`,
    `[card]drawbox=x=0:y=ih-${barH}:w=iw:h=${barH}:color=white@0.12:t=fill[track]`,
    `[track][bar]overlay=x='-W+W*(t+1/${FPS})/${num(plan.durationSeconds)}':y=H-${barH}:shortest=1,setsar=1,format=yuv420p[v]`,
  );

  return [
    '-hide_banner', '-nostdin', '-y', '-v', 'error', '-nostats', '-progress', 'pipe:1',
    ...(io.image ? ['-i', `file:${io.image}`] : []),
    '-filter_complex', filters.join(';'),
    '-map', '[v]', '-an', '-frames:v', String(N), '-r', String(FPS),
    // Fixed threads and bitexact flags: identical input → identical bytes.
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20', '-g', String(FPS * 2), '-threads', '1', '-pix_fmt', 'yuv420p',
    '-map_metadata', '-1', '-flags:v', '+bitexact', '-fflags', '+bitexact', '-movflags', '+faststart',
    '-f', 'mp4', `file:${io.output}`,
  ];
}

/**
 * One line of `-progress pipe:1` output → fraction done, or null when the
 * line carries no time. out_time_ms is microseconds too (an old ffmpeg misnomer).
 */
export function parseProgressLine(line: string, durationSeconds: number): number | null {
  const s = line.trim();
  if (s === 'progress=end') return 1;
  let seconds: number | null = null;
  const us = /^out_time_(?:us|ms)=(-?\d+)$/.exec(s);
  const hms = /^out_time=(-?)(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(s);
  if (us) seconds = Number(us[1]) / 1e6;
  else if (hms) seconds = (hms[1] ? -1 : 1) * (Number(hms[2]) * 3600 + Number(hms[3]) * 60 + Number(hms[4]));
  if (seconds === null || !Number.isFinite(seconds) || durationSeconds <= 0) return null;
  return clamp(seconds / durationSeconds, 0, 1);
}
