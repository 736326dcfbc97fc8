// What the PNG bomb walk costs an honest image, and what it saves on a bomb.
// Measured: inspectImageFile (chunk walk with its inflates, then the ffmpeg decode)
// on a 12-megapixel photo-like PNG. Baseline: the ffmpeg decode alone with the same
// arguments, which is all the check did before the walk. The ratio is throughput
// (baseline time ÷ check time; < 1× slower). A second row times the refusal of a
// 1 MB PNG whose zTXt inflates to 1 GB (the decode alone took ~14 s and ~3 GB).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { inspectImageFile } from '../src/media/image.js';
import { decoderPixelCap, ffmpegPath, runTool } from '../src/media/tools.js';
import { encodeWithFfmpeg, makePng, type PngChunk } from '../test/emulators/media.js';
import { fmt, median, timed } from './stats.js';

const MAX_PIXELS = 40_000_000;
const RUNS = 7;

export interface ImageCheckResults {
  photoMs: number;
  baselineMs: number;
  bombMs: number;
  bombBytes: number;
}

/** A zTXt chunk whose text inflates to `mib` MiB, deflated as a stream so the bench never holds it whole. */
async function bombChunk(mib: number): Promise<PngChunk> {
  const z = zlib.createDeflate({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (b: Buffer) => out.push(b));
  const ended = new Promise((r) => z.on('end', r));
  const zero = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mib; i++) if (!z.write(zero)) await new Promise((r) => z.once('drain', r));
  z.end();
  await ended;
  return { type: 'zTXt', data: Buffer.concat([Buffer.from('Comment\0\0', 'latin1'), ...out]) };
}

export async function benchImageCheck(): Promise<ImageCheckResults> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-bench-image-'));
  try {
    const photo = path.join(dir, 'photo.png');
    fs.writeFileSync(photo, encodeWithFfmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=4000x3000', '-vf', 'noise=alls=12:allf=u', '-frames:v', '1'], 'png'));
    const args = ['-hide_banner', '-nostdin', '-v', 'error', '-xerror', '-threads', '1', '-max_pixels', decoderPixelCap(MAX_PIXELS), '-err_detect', 'explode', '-f', 'png_pipe', '-i', `file:${photo}`, '-frames:v', '1', '-f', 'null', '-'];
    const decode = async () => {
      const run = await runTool(ffmpegPath(), args, { timeoutMs: 60_000 });
      if (run.code !== 0) throw new Error(`baseline decode failed: ${run.stderr}`);
    };
    const check = () => inspectImageFile(photo, { maxPixels: MAX_PIXELS, timeoutMs: 60_000 });
    await decode();
    await check();
    const base: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      base.push(await timed(decode));
      ours.push(await timed(check));
    }
    const bomb = path.join(dir, 'bomb.png');
    fs.writeFileSync(bomb, makePng(8, 8, { chunks: [await bombChunk(1024)] }));
    const refuse = async () => {
      const err = await inspectImageFile(bomb, { maxPixels: MAX_PIXELS }).then(() => null, (e: unknown) => e);
      if ((err as { code?: string } | null)?.code !== 'INVALID_IMAGE') throw new Error('the bomb was not refused');
    };
    const refusals: number[] = [];
    for (let i = 0; i < RUNS; i++) refusals.push(await timed(refuse));
    return { photoMs: median(ours), baselineMs: median(base), bombMs: median(refusals), bombBytes: fs.statSync(bomb).size };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function describeImageCheck(r: ImageCheckResults): string[] {
  return [
    `image check, 12 MP PNG: ${fmt(r.photoMs, 0)} ms (walk + decode) vs ${fmt(r.baselineMs, 0)} ms (decode alone, baseline): ${fmt(r.baselineMs / r.photoMs)}× throughput`,
    `image check, ${fmt(r.bombBytes / 1e6, 1)} MB PNG whose zTXt inflates to 1 GiB: refused in ${fmt(r.bombMs, 0)} ms`,
  ];
}
