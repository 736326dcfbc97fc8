import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InvalidMediaError } from '../../src/media/errors.js';
import { validateMedia } from '../../src/media/probe.js';
import { sniffContentType } from '../../src/media/sniff.js';
import { makePng } from '../emulators/media.js';

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('sniffContentType', () => {
  it('recognizes video and image signatures', () => {
    expect(sniffContentType(bytes([0, 0, 0, 0x20], 'ftypisom', [0, 0, 2, 0]))).toBe('video/mp4');
    expect(sniffContentType(bytes([0, 0, 0, 0x18], 'ftypmp42'))).toBe('video/mp4');
    expect(sniffContentType(bytes([0, 0, 0, 0x14], 'ftypqt  '))).toBe('video/quicktime');
    expect(sniffContentType(bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81]))).toBe('video/webm');
    expect(sniffContentType(bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]))).toBe('image/png');
    expect(sniffContentType(bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10], 'JFIF'))).toBe('image/jpeg');
    expect(sniffContentType(bytes('RIFF', [0x24, 0, 0, 0], 'WEBPVP8 '))).toBe('image/webp');
    expect(sniffContentType(bytes('GIF89a', [1, 0, 1, 0]))).toBe('image/gif');
    expect(sniffContentType(bytes('GIF87a', [1, 0, 1, 0]))).toBe('image/gif');
  });

  it('returns null for anything else or too few bytes', () => {
    expect(sniffContentType(Buffer.alloc(0))).toBeNull();
    expect(sniffContentType(bytes('<!doctype html>'))).toBeNull();
    expect(sniffContentType(bytes('RIFF', [0, 0, 0, 0], 'WAVE'))).toBeNull();
    expect(sniffContentType(bytes([0, 0, 0], 'ftyp'))).toBeNull();
    expect(sniffContentType(bytes([0x89], 'PN'))).toBeNull();
  });
});

describe('validateMedia', () => {
  let dir: string;
  const ff = (...args: string[]) => execFileSync(ffmpegInstaller.path, ['-v', 'error', '-y', ...args]);
  const at = (name: string) => path.join(dir, name);
  const opts = { maxPixels: 40_000_000 };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-probe-'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=24', '-t', '1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', at('a.mp4'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '0.5', '-c:v', 'libvpx', at('a.webm'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=200x100', '-frames:v', '1', at('a.png'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=200x100', '-frames:v', '1', at('a.jpg'));
    ff('-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', at('a.m4a'));
    // A phone-style portrait video: landscape frames with a 90° rotation tag.
    ff('-i', at('a.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', at('rotated.mp4'));
    // Larger than the head read at once, its movie index at the end (no faststart): read beyond the head.
    ff('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '4', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '10', at('big.mp4'));
    fs.writeFileSync(at('text.txt'), 'not media at all');
    // The old emulators' "video": an ftyp box and random bytes, no playable stream.
    fs.writeFileSync(at('fake.mp4'), Buffer.concat([Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex'), Buffer.alloc(4000, 7)]));
    fs.writeFileSync(at('corrupt.png'), makePng(64, 64, { corrupt: true }));
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function refusal(promise: Promise<unknown>): Promise<InvalidMediaError> {
    const err = await promise.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidMediaError);
    return err as InvalidMediaError;
  }

  it('reads duration, size and type of an MP4', async () => {
    const info = await validateMedia(at('a.mp4'), 'VIDEO', opts);
    expect(info).toMatchObject({ width: 160, height: 120, contentType: 'video/mp4' });
    expect(info.durationSeconds).toBeCloseTo(1, 1);
  });

  it('judges a small MP4 from one read of one opened file; a large one reads its movie index beyond that', async () => {
    // Each open and read is a round trip through libuv's thread pool: a burst of finishing
    // jobs spent most of its event loop on them (a head read for sniffing, then one per box).
    const reads: number[] = [];
    const realOpen = fsp.open.bind(fsp);
    const spy = vi.spyOn(fsp, 'open').mockImplementation(async (...args: Parameters<typeof fsp.open>) => {
      const fh = await realOpen(...args);
      const read = fh.read.bind(fh) as (...a: unknown[]) => Promise<{ bytesRead: number; buffer: Buffer }>;
      (fh as unknown as { read: (...a: unknown[]) => unknown }).read = (...a: unknown[]) => {
        reads.push(a[3] as number);
        return read(...a);
      };
      return fh;
    });
    try {
      expect(fs.statSync(at('a.mp4')).size).toBeLessThan(64 * 1024);
      expect(await validateMedia(at('a.mp4'), 'VIDEO', opts)).toMatchObject({ width: 160, height: 120, contentType: 'video/mp4' });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(reads).toEqual([0]);
      spy.mockClear();
      reads.length = 0;
      expect(fs.statSync(at('big.mp4')).size).toBeGreaterThan(64 * 1024);
      const big = await validateMedia(at('big.mp4'), 'VIDEO', opts);
      expect(big).toMatchObject({ width: 320, height: 240, contentType: 'video/mp4' });
      expect(big.durationSeconds).toBeCloseTo(4, 1);
      expect(spy).toHaveBeenCalledTimes(1);
      expect(reads[0]).toBe(0);
      expect(reads.length).toBeGreaterThan(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('reads a WebM', async () => {
    const info = await validateMedia(at('a.webm'), 'VIDEO', opts);
    expect(info).toMatchObject({ width: 64, height: 48, contentType: 'video/webm' });
    expect(info.durationSeconds).toBeCloseTo(0.5, 1);
  });

  it('reads the duration of an MP4 whose headers state none from its frames (ffprobe after the box parser)', async () => {
    // mvhd, tkhd and mdhd durations zeroed: the boxes vouch for size but not for duration.
    const b = fs.readFileSync(at('a.mp4'));
    for (const [type, off] of [['mvhd', 16], ['mdhd', 16], ['tkhd', 20]] as const) {
      for (let i = b.indexOf(type, 0, 'latin1'); i >= 0; i = b.indexOf(type, i + 1, 'latin1')) if (b[i + 4] === 0) b.writeUInt32BE(0, i + 4 + off);
    }
    fs.writeFileSync(at('nodur.mp4'), b);
    const facts = await validateMedia(at('nodur.mp4'), 'VIDEO', opts);
    expect(facts).toMatchObject({ contentType: 'video/mp4', width: 160, height: 120 });
    expect(facts.durationSeconds).toBeCloseTo(1, 1);
  });

  it('reports display size for rotated video', async () => {
    expect(await validateMedia(at('rotated.mp4'), 'VIDEO', opts)).toMatchObject({ width: 120, height: 160 });
  });

  it('reads still images, which must decode, without a duration', async () => {
    expect(await validateMedia(at('a.png'), 'IMAGE', opts)).toEqual({ durationSeconds: null, width: 200, height: 100, contentType: 'image/png' });
    expect(await validateMedia(at('a.jpg'), 'IMAGE', opts)).toEqual({ durationSeconds: null, width: 200, height: 100, contentType: 'image/jpeg' });
  });

  it('refuses what is not the media it claims to be, with INVALID_RESULT', async () => {
    const cases: Array<[string, 'VIDEO' | 'IMAGE', RegExp]> = [
      ['text.txt', 'VIDEO', /not a video that ffprobe can read/],
      ['fake.mp4', 'VIDEO', /not a video that ffprobe can read/],
      ['a.m4a', 'VIDEO', /no video stream/],
      ['a.png', 'VIDEO', /is an image \(image\/png\), not a video/],
      ['a.mp4', 'IMAGE', /is not a PNG, JPEG, WebP or GIF image/],
      ['text.txt', 'IMAGE', /is not a PNG/],
      ['corrupt.png', 'IMAGE', /does not decode as a PNG image/],
    ];
    for (const [file, kind, message] of cases) {
      const err = await refusal(validateMedia(at(file), kind, opts));
      expect(err.code, `${file} as ${kind}`).toBe('INVALID_RESULT');
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain(dir); // no server paths in messages
    }
  });

  it('refuses frames above the pixel limit', async () => {
    expect((await refusal(validateMedia(at('a.mp4'), 'VIDEO', { maxPixels: 160 * 120 - 1 }))).message).toMatch(/160x120 frames/);
    expect(await refusal(validateMedia(at('a.png'), 'IMAGE', { maxPixels: 1000 }))).toMatchObject({ code: 'INVALID_RESULT' });
  });

  it('passes the caller abort through; a missing file is an error, not a verdict', async () => {
    await expect(validateMedia(at('a.mp4'), 'VIDEO', { ...opts, signal: AbortSignal.abort(new Error('stop')) })).rejects.toThrow('stop');
    const missing = await validateMedia(at('missing.mp4'), 'VIDEO', opts).then(() => null, (e: unknown) => e);
    expect(missing).not.toBeInstanceOf(InvalidMediaError);
    expect(missing).toMatchObject({ code: 'ENOENT' });
  });
});
