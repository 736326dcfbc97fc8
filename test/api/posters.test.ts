// Posters of video results through the real server: `result.thumbnailUrl` is a
// JPEG made by ffmpeg on its first request (one run however many ask at once),
// kept next to the result, served like the video, and gone with the task;
// image results have none; a video ffmpeg cannot decode answers a typed 404.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SORA_UI_TEST_TOKEN, startSoraUiEmulator, type SoraUiEmulator } from '../emulators/sora-ui.js';
import { SAMPLE_VIDEO } from '../emulators/media.js';
import { providerEntry, run } from '../e2e/helpers.js';
import { databaseKinds } from '../support/postgres.js';
import { startTestApp, type TestApp } from '../support/app.js';

const kinds = await databaseKinds();

const RESULT = /* GraphQL */ `
  query($id: ID!) { task(id: $id) { id status mediaType result { url thumbnailUrl contentType width height durationSeconds } } }
`;

interface ResultView {
  url: string;
  thumbnailUrl: string | null;
  contentType: string;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
}

async function resultOf(t: TestApp, id: string): Promise<{ mediaType: string; result: ResultView }> {
  const res = await t.gql(RESULT, { id });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data.task;
}

/** Width and height from a JPEG's start-of-frame segment (after checking the SOI marker). */
export function jpegSize(bytes: Buffer): { width: number; height: number } {
  expect(bytes[0]).toBe(0xff);
  expect(bytes[1]).toBe(0xd8);
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) throw new Error(`no JPEG marker at ${i}`);
    const marker = bytes[i + 1]!;
    const length = bytes.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: bytes.readUInt16BE(i + 5), width: bytes.readUInt16BE(i + 7) };
    }
    i += 2 + length;
  }
  throw new Error('no start-of-frame segment');
}

/** reelay_poster_renders_total{outcome} as this process's /metrics shows it. */
async function renders(t: TestApp, outcome: 'ok' | 'failed'): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const m = new RegExp(`^reelay_poster_renders_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const posterOnDisk = (t: TestApp, id: string) => path.join(t.config.filesDir, id, 'poster.jpg');

describe.each(kinds)('posters of local renders on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ db: kind });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a JPEG at most 640 px wide, made once on the first (concurrent) requests, served like the video, deleted with the task', async () => {
    const { id, final } = await run(t, { prompt: 'A lighthouse at dusk', durationSeconds: 2, width: 1280, height: 720 }, 60_000);
    expect(final.status).toBe('COMPLETED');
    const { result, mediaType } = await resultOf(t, id);
    expect(mediaType).toBe('VIDEO');
    expect(result).toMatchObject({ contentType: 'video/mp4', width: 1280, height: 720 });
    expect(result.durationSeconds).toBeCloseTo(2, 0);
    expect(result.thumbnailUrl).toBe(`${t.url}/files/${id}/poster.jpg`);
    // Lazy: finishing the task ran no ffmpeg for it.
    expect(fs.existsSync(posterOnDisk(t, id))).toBe(false);

    const before = await renders(t, 'ok');
    const answers = await Promise.all(Array.from({ length: 8 }, () => fetch(result.thumbnailUrl!)));
    const bodies = await Promise.all(answers.map(async (a) => Buffer.from(await a.arrayBuffer())));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.headers.get('content-type')).toBe('image/jpeg');
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
    }
    for (const b of bodies) expect(b.equals(bodies[0]!)).toBe(true);
    expect(jpegSize(bodies[0]!)).toEqual({ width: 640, height: 360 });
    expect(await renders(t, 'ok')).toBe(before + 1);
    expect(fs.readFileSync(posterOnDisk(t, id)).equals(bodies[0]!)).toBe(true);

    // Served from the cached file afterwards, with the video's HEAD, Range and caching headers.
    const head = await fetch(result.thumbnailUrl!, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bodies[0]!.length));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    const etag = head.headers.get('etag')!;
    expect(etag).toBeTruthy();
    expect(head.headers.get('cache-control')).toContain('max-age');
    const part = await fetch(result.thumbnailUrl!, { headers: { range: 'bytes=0-1' } });
    expect(part.status).toBe(206);
    expect([...Buffer.from(await part.arrayBuffer())]).toEqual([0xff, 0xd8]);
    expect((await fetch(result.thumbnailUrl!, { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect(await renders(t, 'ok')).toBe(before + 1);

    const del = await t.gql(`mutation($id: ID!) { deleteTask(id: $id) { __typename } }`, { id });
    expect(del.data.deleteTask.__typename).toBe('DeleteTaskSuccess');
    expect(fs.existsSync(posterOnDisk(t, id))).toBe(false);
    const gone = await fetch(result.thumbnailUrl!);
    expect(gone.status).toBe(404);
    await gone.arrayBuffer();
  });

  it('a video ffmpeg cannot decode: a typed 404, tried once, the server unharmed', async () => {
    const { id, final } = await run(t, { prompt: 'Soon broken', durationSeconds: 1, width: 320, height: 240 }, 60_000);
    expect(final.status).toBe('COMPLETED');
    const { result } = await resultOf(t, id);
    // The stored video rots on disk: an ftyp box and junk.
    fs.writeFileSync(path.join(t.config.filesDir, id, 'result.mp4'), Buffer.concat([Buffer.from('000000186674797069736f6d0000020069736f6d69736f32', 'hex'), Buffer.alloc(5000, 7)]));
    const before = await renders(t, 'failed');
    const answers = await Promise.all([fetch(result.thumbnailUrl!), fetch(result.thumbnailUrl!)]);
    for (const a of answers) {
      expect(a.status).toBe(404);
      const body = (await a.json()) as { errors: Array<{ extensions: { code: string } }> };
      expect(body.errors[0]!.extensions.code).toBe('POSTER_UNAVAILABLE');
    }
    const again = await fetch(result.thumbnailUrl!);
    expect(again.status).toBe(404);
    await again.arrayBuffer();
    expect(await renders(t, 'failed')).toBe(before + 1);
    expect(fs.existsSync(posterOnDisk(t, id))).toBe(false);
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
  });

  it('a poster of a task without a result (or an unknown task) is a 404', async () => {
    const missing = await fetch(`${t.url}/files/00000000-0000-4000-8000-000000000000/poster.jpg`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0]!.extensions.code).toBe('POSTER_UNAVAILABLE');
  });
});

describe('thumbnailUrl of remote results', () => {
  let emu: SoraUiEmulator;
  let t: TestApp;
  beforeAll(async () => {
    emu = await startSoraUiEmulator({ processingAfterMs: 50, completeAfterMs: 200 });
    t = await startTestApp({ providers: [providerEntry('sora', 'sora-ui', emu.url, { apiKey: SORA_UI_TEST_TOKEN })], defaultProvider: 'sora' });
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
  });

  it('an image result has none', async () => {
    const { id, final } = await run(t, { prompt: 'A still life', model: 'gemini-2.5-flash-imagen' });
    expect(final.status).toBe('COMPLETED');
    const { result, mediaType } = await resultOf(t, id);
    expect(mediaType).toBe('IMAGE');
    expect(result.contentType).toBe('image/png');
    expect(result.thumbnailUrl).toBeNull();
    expect(result.durationSeconds).toBeNull();
    expect(result.width).toBeGreaterThan(0);
    const poster = await fetch(`${t.url}/files/${id}/poster.jpg`);
    expect(poster.status).toBe(404);
    await poster.arrayBuffer();
  });

  it('a downloaded video gets its size and duration from the file and a poster no wider than itself', async () => {
    const { id, final } = await run(t, { prompt: 'A paper boat', durationSeconds: 4, width: 1280, height: 720 });
    expect(final.status).toBe('COMPLETED');
    const { result } = await resultOf(t, id);
    expect(result).toMatchObject({ width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height, durationSeconds: SAMPLE_VIDEO.durationSeconds });
    const poster = await fetch(result.thumbnailUrl!);
    expect(poster.status).toBe(200);
    expect(jpegSize(Buffer.from(await poster.arrayBuffer()))).toEqual({ width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height });
  });
});
