import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidMediaError } from '../../src/media/errors.js';
import { readMp4, type Mp4Verdict } from '../../src/media/mp4-boxes.js';
import { validateMedia } from '../../src/media/probe.js';

const fromBuffer = (b: Buffer) => readMp4(async (offset, length) => b.subarray(offset, offset + length), b.length);

/** Offset of the first box of `type` found by scanning (good enough for ffmpeg's small files). */
const find = (b: Buffer, type: string) => b.indexOf(Buffer.from(type, 'latin1')) - 4;

describe('readMp4', () => {
  let dir: string;
  const at = (name: string) => path.join(dir, name);
  const ff = (...args: string[]) => execFileSync(ffmpegInstaller.path, ['-v', 'error', '-y', ...args]);
  const file = (name: string) => fs.readFileSync(at(name));

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-mp4-'));
    const src = ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=24', '-t', '2', '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-preset', 'ultrafast'];
    ff(...src, '-movflags', '+faststart', at('fast.mp4'));
    ff(...src, at('tail.mp4')); // moov after mdat
    ff(...src, at('a.mov'));
    ff('-i', at('fast.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', at('rotated.mp4'));
    ff('-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', at('audio.m4a'));
    ff(...src, '-movflags', '+frag_keyframe+empty_moov', at('frag.mp4'));
    ff(...src, '-c:v', 'mpeg4', at('mpeg4.mp4'));
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads size, duration and codec of plain MP4 and MOV files, wherever the index is', async () => {
    for (const name of ['fast.mp4', 'tail.mp4', 'a.mov', 'mpeg4.mp4']) {
      const v = await fromBuffer(file(name));
      expect(v.kind, name).toBe('video');
      if (v.kind !== 'video') continue;
      expect(v.facts).toMatchObject({ width: 160, height: 120, rotation: 0 });
      expect(v.facts.durationSeconds).toBeCloseTo(2, 1);
    }
    expect(await fromBuffer(file('fast.mp4'))).toMatchObject({ facts: { codec: 'avc1' } });
  });

  it('reads the rotation of the display matrix', async () => {
    expect(await fromBuffer(file('rotated.mp4'))).toMatchObject({ kind: 'video', facts: { width: 160, height: 120 } });
    const v = (await fromBuffer(file('rotated.mp4'))) as Extract<Mp4Verdict, { kind: 'video' }>;
    expect(Math.abs(v.facts.rotation)).toBe(90);
  });

  it('refuses a file without a video track, and leaves fragmented files to ffprobe', async () => {
    expect(await fromBuffer(file('audio.m4a'))).toEqual({ kind: 'refused', reason: 'has no video stream' });
    expect(await fromBuffer(file('frag.mp4'))).toMatchObject({ kind: 'undecided' });
  });

  it('refuses every truncation of a video: never vouches for a cut file', async () => {
    for (const name of ['fast.mp4', 'tail.mp4']) {
      const whole = file(name);
      for (const cut of [whole.length - 1, whole.length - 100, Math.floor(whole.length / 2), find(whole, 'mdat') + 20, find(whole, 'moov') + 40, 30]) {
        const v = await fromBuffer(whole.subarray(0, cut));
        expect(v.kind, `${name} cut at ${cut}`).not.toBe('video');
      }
      // A cut inside the frames, after the index, is a clear refusal.
      expect(await fromBuffer(whole.subarray(0, whole.length - 100))).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/^is truncated/) });
    }
  });

  it('refuses frames that lie outside the file, even when the boxes tile it', async () => {
    const b = Buffer.from(file('fast.mp4'));
    const stco = find(b, 'stco');
    // First chunk offset (stco payload: version/flags, count, offsets) moved past the end.
    b.writeUInt32BE(b.length - 10, stco + 16);
    expect(await fromBuffer(b)).toEqual({ kind: 'refused', reason: 'is truncated (its video frames run past the end of the file)' });
  });

  it('survives hostile bytes: impossible sizes, garbage, random corruption of the index', async () => {
    const whole = file('fast.mp4');
    const moov = find(whole, 'moov');
    const moovSize = whole.readUInt32BE(moov);
    const cases: Buffer[] = [
      Buffer.concat([whole.subarray(0, 32), Buffer.alloc(4000, 7)]),
      Buffer.from('000000186674797069736f6d0000020069736f6d69736f32ffffffff', 'hex'),
      Buffer.concat([Buffer.from('00000018667479706973 6f6d0000020069736f6d69736f32'.replace(/ /g, ''), 'hex'), Buffer.from('0000000100000000', 'hex')]),
    ];
    // Sizes of boxes inside the index set to 0, 1, 7, huge.
    for (const type of ['trak', 'mdia', 'stbl', 'stsd', 'stsz', 'stco', 'stsc', 'tkhd', 'hdlr', 'avc1']) {
      for (const size of [0, 1, 7, 0x7fffffff]) {
        const b = Buffer.from(whole);
        b.writeUInt32BE(size, find(b, type));
        cases.push(b);
      }
    }
    // Entry counts set huge.
    for (const [type, at] of [['stsz', 16], ['stco', 12], ['stsc', 12], ['stsd', 12]] as const) {
      const b = Buffer.from(whole);
      b.writeUInt32BE(0xffffffff, find(b, type) + at);
      cases.push(b);
    }
    // Random bytes flipped inside the index (deterministic).
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(whole);
      for (let k = 0; k < 4; k++) b[moov + 8 + Math.floor(rand() * (moovSize - 8))] = Math.floor(rand() * 256);
      cases.push(b);
    }
    for (const b of cases) {
      const v = await fromBuffer(b);
      expect(['video', 'refused', 'undecided']).toContain(v.kind);
      if (v.kind === 'video') {
        expect(v.facts.width).toBeGreaterThanOrEqual(0);
        expect(Number.isFinite(v.facts.durationSeconds ?? 0)).toBe(true);
      }
    }
  });

  it('validateMedia takes MP4 facts from the boxes, refuses a truncated one and still asks ffprobe about the rest', async () => {
    const opts = { maxPixels: 40_000_000 };
    expect(await validateMedia(at('tail.mp4'), 'VIDEO', opts)).toMatchObject({ contentType: 'video/mp4', width: 160, height: 120 });
    expect(await validateMedia(at('rotated.mp4'), 'VIDEO', opts)).toMatchObject({ width: 120, height: 160 });
    expect(await validateMedia(at('a.mov'), 'VIDEO', opts)).toMatchObject({ contentType: 'video/quicktime', width: 160, height: 120 });
    // Fragmented: undecided by the boxes, read by ffprobe.
    expect(await validateMedia(at('frag.mp4'), 'VIDEO', opts)).toMatchObject({ contentType: 'video/mp4', width: 160, height: 120 });
    const whole = file('fast.mp4');
    fs.writeFileSync(at('cut.mp4'), whole.subarray(0, whole.length - 100));
    const err = await validateMedia(at('cut.mp4'), 'VIDEO', opts).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidMediaError);
    expect(err).toMatchObject({ code: 'INVALID_RESULT', message: expect.stringMatching(/^is truncated/) });
    await expect(validateMedia(at('fast.mp4'), 'VIDEO', { maxPixels: 160 * 120 - 1 })).rejects.toThrow(/160x120 frames/);
  });
});
