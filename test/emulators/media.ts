// Real media for the emulators and tests: reelay now refuses results that are
// not playable video (or decodable images), so fake upstreams serve the real thing.
// The MP4 is made once per process with the bundled ffmpeg; PNGs are written
// here byte by byte (zlib), which also makes broken and oversized ones cheap.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';

/** Size and length of the emulators' video: what ffprobe reports for every fakeMp4(). */
export const SAMPLE_VIDEO = { width: 64, height: 48, durationSeconds: 1 } as const;

let baseMp4: Buffer | undefined;

/** Encode a small clip with the bundled ffmpeg (runs once per process per call site). */
export function encodeWithFfmpeg(args: string[], ext: string): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-media-'));
  try {
    const out = path.join(dir, `out.${ext}`);
    execFileSync(ffmpegInstaller.path, ['-hide_banner', '-nostdin', '-v', 'error', '-y', ...args, out]);
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function mp4(): Buffer {
  const { width, height, durationSeconds } = SAMPLE_VIDEO;
  baseMp4 ??= encodeWithFfmpeg(
    ['-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=8`, '-t', String(durationSeconds), '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-map_metadata', '-1', '-fflags', '+bitexact', '-movflags', '+faststart'],
    'mp4',
  );
  return baseMp4;
}

/**
 * A real, playable MP4 (64×48, 1 s), unique per seed: the same clip followed by
 * an MP4 `free` box naming the seed, which players and ffprobe skip.
 */
export function fakeMp4(seed: string): Buffer {
  const payload = Buffer.from(`reelay-emulator:${seed}`, 'utf8');
  const box = Buffer.alloc(8);
  box.writeUInt32BE(payload.length + 8, 0);
  box.write('free', 4, 'latin1');
  return Buffer.concat([mp4(), box, payload]);
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length, 0);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body), 0);
  return Buffer.concat([len, body, crc]);
}

export interface PngOptions {
  /** 1, 2, 4, 8 (default 8). */
  bitDepth?: number;
  /** 0 grey, 2 RGB (default), 6 RGBA. */
  colorType?: 0 | 2 | 6;
  /** Scramble the compressed pixel data after its first bytes: a valid header, data that does not decode. */
  corrupt?: boolean;
  /** Every pixel this colour (8-bit RGB only); default all zero. */
  rgb?: readonly [number, number, number];
  /** Ancillary chunks, put before IDAT unless `afterIdat`. */
  chunks?: readonly PngChunk[];
  /** The IDAT payload as given, instead of the compressed pixels. */
  idat?: Buffer;
}

export interface PngChunk {
  type: string;
  data: Buffer;
  afterIdat?: boolean;
}

/** A text chunk: tEXt as is, zTXt and iTXt with the text compressed (zlib). */
export function pngTextChunk(type: 'tEXt' | 'zTXt' | 'iTXt', keyword: string, text: Buffer, afterIdat = false): PngChunk {
  const kw = Buffer.from(`${keyword}\0`, 'latin1');
  if (type === 'tEXt') return { type, data: Buffer.concat([kw, text]), afterIdat };
  const z = zlib.deflateSync(text, { level: 9 });
  // zTXt: keyword, method 0, data. iTXt: keyword, flag 1 (compressed), method 0, empty language and translated keyword, data.
  const data = type === 'zTXt' ? Buffer.concat([kw, Buffer.from([0]), z]) : Buffer.concat([kw, Buffer.from([1, 0, 0, 0]), z]);
  return { type, data, afterIdat };
}

/** An iCCP chunk holding `profile` compressed (the bytes need not be a real ICC profile). */
export function pngIccChunk(profile: Buffer): PngChunk {
  return { type: 'iCCP', data: Buffer.concat([Buffer.from('icc\0\0', 'latin1'), zlib.deflateSync(profile, { level: 9 })]) };
}

/**
 * A PNG of any size, pixels all zero (a 16000×16000 one-bit PNG is a few tens of KB).
 * Valid unless `corrupt`.
 */
export function makePng(width: number, height: number, opts: PngOptions = {}): Buffer {
  const depth = opts.bitDepth ?? 8;
  const type = opts.colorType ?? 2;
  const channels = type === 2 ? 3 : type === 6 ? 4 : 1;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = type;
  const row = Math.ceil((width * channels * depth) / 8) + 1; // + the filter byte
  const pixels = Buffer.alloc(row * height);
  if (opts.rgb && type === 2 && depth === 8) {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(opts.rgb, y * row + 1 + x * 3);
  }
  let idat = opts.idat ?? zlib.deflateSync(pixels);
  if (opts.corrupt) {
    idat = Buffer.from(idat);
    for (let i = 8; i < idat.length; i++) idat[i] = (i * 7 + 13) & 0xff;
  }
  const extra = (after: boolean) => (opts.chunks ?? []).filter((c) => !!c.afterIdat === after).map((c) => chunk(c.type, c.data));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), ...extra(false), chunk('IDAT', idat), ...extra(true), chunk('IEND', Buffer.alloc(0))]);
}

/** A valid 1×1 PNG of the given colour: distinct, decodable image bytes. */
export function tinyPng(r: number, g: number, b: number): Buffer {
  return makePng(1, 1, { rgb: [r, g, b] });
}

/** A small real PNG (2×2 RGBA), for image-to-video and image-result tests. */
export const TINY_PNG = makePng(2, 2, { colorType: 6 });
