// The poster store on its own: one ffmpeg run per task however many ask,
// runs across tasks bounded (a request beyond the bound waits, then is told busy).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { posterSeconds } from '../../src/media/poster.js';
import { PosterStore, posterFileOf } from '../../src/storage/posters.js';
import { Slots } from '../../src/slots.js';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

describe('PosterStore', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-posters-'));
    for (const id of [A, B]) {
      fs.mkdirSync(path.join(dir, id));
      execFileSync(ffmpegInstaller.path, ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=800x600:rate=25', '-t', '2', '-pix_fmt', 'yuv420p', path.join(dir, id, 'result.mp4')]);
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('picks 10 % of the duration or 1 s, whichever is earlier', () => {
    expect(posterSeconds(2)).toBeCloseTo(0.2);
    expect(posterSeconds(60)).toBe(1);
    expect(posterSeconds(null)).toBe(0);
  });

  it('names a poster for video results only', () => {
    expect(posterFileOf({ file: `${A}/result.mp4`, contentType: 'video/mp4' })).toBe(`${A}/poster.jpg`);
    expect(posterFileOf({ file: `${A}/result.bin`, contentType: 'application/octet-stream' })).toBe(`${A}/poster.jpg`);
    expect(posterFileOf({ file: `${A}/result.png`, contentType: 'image/png' })).toBeNull();
  });

  it('runs ffmpeg once per task for concurrent callers, and bounds runs across tasks', async () => {
    const slots = new Slots(1);
    const store = new PosterStore({ filesDir: dir, maxPixels: 40_000_000, slots, maxWaitMs: 50 });
    // Something else holds the only slot: a request waits 50 ms and is told to come back.
    let release!: () => void;
    const held = slots.run(() => new Promise<void>((r) => (release = r)));
    expect(await store.ensure(B)).toEqual({ kind: 'busy', retryAfterSeconds: 5 });
    expect(store.renders).toBe(0);
    // Concurrent callers of one task wait for the slot together and share one run.
    const forA = Promise.all([store.ensure(A), store.ensure(A), store.ensure(A)]);
    await new Promise((r) => setTimeout(r, 10));
    release();
    await held;
    expect(await forA).toEqual([{ kind: 'ready' }, { kind: 'ready' }, { kind: 'ready' }]);
    expect(store.renders).toBe(1);
    expect(await store.ensure(A)).toEqual({ kind: 'ready' });
    expect(await store.ensure(B)).toEqual({ kind: 'ready' });
    expect(store.renders).toBe(2);
    const jpeg = fs.readFileSync(path.join(dir, A, 'poster.jpg'));
    expect([jpeg[0], jpeg[1]]).toEqual([0xff, 0xd8]);
    expect(fs.readdirSync(path.join(dir, A)).sort()).toEqual(['poster.jpg', 'result.mp4']);
  });
});
