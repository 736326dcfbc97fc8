import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeMedia, sniffContentType } from '../../src/media/probe.js';

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

describe('probeMedia', () => {
  let dir: string;
  const ff = (...args: string[]) => execFileSync(ffmpegInstaller.path, ['-v', 'error', '-y', ...args]);

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-probe-'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=24', '-t', '1', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast', path.join(dir, 'a.mp4'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '0.5', '-c:v', 'libvpx', path.join(dir, 'a.webm'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=200x100', '-frames:v', '1', path.join(dir, 'a.png'));
    ff('-f', 'lavfi', '-i', 'testsrc=size=200x100', '-frames:v', '1', path.join(dir, 'a.jpg'));
    // A phone-style portrait video: landscape frames with a 90° rotation tag.
    ff('-i', path.join(dir, 'a.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', path.join(dir, 'rotated.mp4'));
    fs.writeFileSync(path.join(dir, 'text.txt'), 'not media at all');
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads duration, size and type of an MP4', async () => {
    const info = await probeMedia(path.join(dir, 'a.mp4'));
    expect(info).toMatchObject({ width: 160, height: 120, contentType: 'video/mp4' });
    expect(info.durationSeconds).toBeCloseTo(1, 1);
  });

  it('reads a WebM', async () => {
    const info = await probeMedia(path.join(dir, 'a.webm'));
    expect(info).toMatchObject({ width: 64, height: 48, contentType: 'video/webm' });
    expect(info.durationSeconds).toBeCloseTo(0.5, 1);
  });

  it('reports display size for rotated video', async () => {
    expect(await probeMedia(path.join(dir, 'rotated.mp4'))).toMatchObject({ width: 120, height: 160 });
  });

  it('reads still images without a duration', async () => {
    expect(await probeMedia(path.join(dir, 'a.png'))).toEqual({ durationSeconds: null, width: 200, height: 100, contentType: 'image/png' });
    expect(await probeMedia(path.join(dir, 'a.jpg'))).toEqual({ durationSeconds: null, width: 200, height: 100, contentType: 'image/jpeg' });
  });

  it('returns nulls instead of throwing', async () => {
    const none = { durationSeconds: null, width: null, height: null, contentType: null };
    expect(await probeMedia(path.join(dir, 'missing.mp4'))).toEqual(none);
    expect(await probeMedia(path.join(dir, 'text.txt'))).toEqual(none);
    const aborted = AbortSignal.abort();
    expect(await probeMedia(path.join(dir, 'a.mp4'), aborted)).toMatchObject({ durationSeconds: null, width: null });
  });
});
