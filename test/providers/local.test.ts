import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import ffmpegInstaller from '@ffmpeg-installer/ffmpeg';
import ffprobeInstaller from '@ffprobe-installer/ffprobe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateMedia } from '../../src/media/probe.js';
import { createLocalProvider, lastMeaningfulLine, type LocalProvider } from '../../src/providers/local/index.js';
import { buildFfmpegArgs, deriveSize, escapeFilterText, parseProgressLine, planRender, wrapText } from '../../src/providers/local/render.js';
import type { GenerationRequest, Provider, ProviderConfig, Snapshot } from '../../src/providers/types.js';
import { makePng } from '../emulators/media.js';

const config = (options: Record<string, unknown> = {}): ProviderConfig => ({
  id: 'local', kind: 'local', models: [], maxConcurrency: 4, pollIntervalMs: 50, timeoutMs: 60_000, fallback: [], allowHosts: ['127.0.0.1'], options, // the image server is on loopback
});
const ctx = () => ({ signal: new AbortController().signal });

/** Model of libavutil's av_get_token: unescape up to a terminator; returns the value and the rest. */
function avGetToken(s: string, term: string): { value: string; rest: string } {
  let i = 0;
  let out = '';
  let keep = 0;
  while (i < s.length && ' \n\t\r'.includes(s[i])) i++;
  for (; i < s.length && !term.includes(s[i]); i++) {
    if (s[i] === '\\' && i + 1 < s.length) (out += s[++i]), (keep = out.length);
    else if (s[i] === "'") {
      for (i++; i < s.length && s[i] !== "'"; i++) out += s[i];
      keep = out.length;
    } else (out += s[i]), (keep = /\s/.test(s[i]) ? keep : out.length);
  }
  return { value: out.slice(0, keep), rest: s.slice(i) };
}

describe('render arguments', () => {
  it('derives even, clamped sizes from explicit values or the aspect ratio', () => {
    expect(deriveSize({})).toEqual({ width: 1280, height: 720 });
    expect(deriveSize({ aspectRatio: '16:9' })).toEqual({ width: 1280, height: 720 });
    expect(deriveSize({ aspectRatio: '9:16' })).toEqual({ width: 720, height: 1280 });
    expect(deriveSize({ aspectRatio: '1:1' })).toEqual({ width: 1280, height: 1280 });
    expect(deriveSize({ aspectRatio: '4:3' })).toEqual({ width: 1280, height: 960 });
    expect(deriveSize({ aspectRatio: '3:4' })).toEqual({ width: 960, height: 1280 });
    expect(deriveSize({ aspectRatio: '21:9' })).toEqual({ width: 1280, height: 548 });
    expect(deriveSize({ aspectRatio: 'wide' })).toEqual({ width: 1280, height: 720 });
    expect(deriveSize({ width: 321, height: 181, aspectRatio: '1:1' })).toEqual({ width: 322, height: 182 });
    expect(deriveSize({ width: 5000, height: 10 })).toEqual({ width: 1920, height: 64 });
    expect(deriveSize({ width: 640 })).toEqual({ width: 640, height: 360 });
    expect(deriveSize({ height: 640, aspectRatio: '1:1' })).toEqual({ width: 640, height: 640 });
  });

  it('plans duration (default 5, clamped 1..60, whole frames) and a seed', () => {
    expect(planRender({ taskId: 't', prompt: 'x' })).toMatchObject({ durationSeconds: 5, frames: 120 });
    expect(planRender({ taskId: 't', prompt: 'x', durationSeconds: 0.2 })).toMatchObject({ durationSeconds: 1, frames: 24 });
    expect(planRender({ taskId: 't', prompt: 'x', durationSeconds: 600 })).toMatchObject({ durationSeconds: 60, frames: 1440 });
    expect(planRender({ taskId: 't', prompt: 'a' }).seed).toBe(planRender({ taskId: 'u', prompt: 'a' }).seed);
    expect(planRender({ taskId: 't', prompt: 'a' }).seed).not.toBe(planRender({ taskId: 't', prompt: 'b' }).seed);
    expect(planRender({ taskId: 't', prompt: 'a', seed: 42 }).seed).toBe(42);
  });

  it('escapes drawtext text through both levels of ffmpeg unescaping', () => {
    for (const text of ["it's 100% \"real\": a\\b [x], y; z", "'''", '\\\\', 'a:b:c', 'tail\\']) {
      const graph = avGetToken(escapeFilterText(text), '[],;');
      expect(graph.rest).toBe(''); // no filtergraph separator leaked out
      const opt = avGetToken(graph.value, ':');
      expect(opt.rest).toBe('');
      expect(opt.value).toBe(text);
    }
  });

  it('wraps text and truncates long prompts with an ellipsis', () => {
    expect(wrapText('one two three four', 4.5, 4)).toEqual(['one two', 'three', 'four']); // widths are in em
    expect(wrapText('  spaced\n\tout  ', 20, 2)).toEqual(['spaced out']);
    const long = wrapText('word '.repeat(200), 10, 3);
    expect(long).toHaveLength(3);
    expect(long[2].endsWith('…')).toBe(true);
    const cut = wrapText('x'.repeat(40), 10, 10);
    expect(cut.length).toBeGreaterThan(2);
    expect(cut.join('')).toBe('x'.repeat(40));
  });

  it('builds a deterministic command line', () => {
    const plan = planRender({ taskId: 't', prompt: '50% off: "now"', durationSeconds: 1, width: 320, height: 180 });
    const args = buildFfmpegArgs(plan, { fontFile: '/f/DejaVuSans.ttf', output: '/o/x.mp4' });
    expect(args).toEqual(buildFfmpegArgs(plan, { fontFile: '/f/DejaVuSans.ttf', output: '/o/x.mp4' }));
    const flat = args.join(' ');
    for (const part of ['-threads 1', '-flags:v +bitexact', '-fflags +bitexact', '-map_metadata -1', '-r 24', '-pix_fmt yuv420p', '-movflags +faststart', '-preset veryfast', '-frames:v 24', '-progress pipe:1', '-nostats']) expect(flat).toContain(part);
    expect(flat).toContain('expansion=none:text=50% off\\\\: "now"');
    expect(flat).not.toContain('zoompan');
    const i2v = buildFfmpegArgs(plan, { fontFile: '/f/DejaVuSans.ttf', output: '/o/x.mp4', image: '/in/img.png' });
    expect(i2v.slice(i2v.indexOf('-i'), i2v.indexOf('-i') + 2)).toEqual(['-i', 'file:/in/img.png']);
    expect(i2v.join(' ')).toContain('zoompan=');
    const other = buildFfmpegArgs({ ...plan, seed: plan.seed + 1 }, { fontFile: '/f/DejaVuSans.ttf', output: '/o/x.mp4' });
    expect(other).not.toEqual(args);
  });

  it('parses -progress lines', () => {
    expect(parseProgressLine('out_time_us=500000', 2)).toBe(0.25);
    expect(parseProgressLine('out_time_ms=1000000', 2)).toBe(0.5);
    expect(parseProgressLine('out_time=00:00:01.500000', 2)).toBe(0.75);
    expect(parseProgressLine('out_time_us=N/A', 2)).toBeNull();
    expect(parseProgressLine('out_time_us=-23000', 2)).toBe(0);
    expect(parseProgressLine('out_time_us=9000000', 2)).toBe(1);
    expect(parseProgressLine('frame=12', 2)).toBeNull();
    expect(parseProgressLine('progress=continue', 2)).toBeNull();
    expect(parseProgressLine('progress=end\r', 2)).toBe(1);
  });

  it('keeps the meaningful stderr line', () => {
    const err = '[png @ 0x55d0c0a1b2c0] Invalid PNG signature 0x6E6F74.\n/w/local/in.png: Invalid data found when processing input\nConversion failed!\n';
    expect(lastMeaningfulLine(err, '/w')).toBe('<workdir>/local/in.png: Invalid data found when processing input');
    expect(lastMeaningfulLine('[Parsed_x @ 0xabc] bad thing\nInvalid argument\n', '/w')).toBe('[Parsed_x] bad thing');
    expect(lastMeaningfulLine('\n\n', '/w')).toBeNull();
  });
});

describe('local provider', () => {
  let workDir: string;
  let provider: LocalProvider;
  let png: string;
  let server: Server;
  let baseUrl: string;
  const others: Provider[] = [];

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-local-'));
    provider = createLocalProvider(config(), { workDir });
    png = path.join(workDir, 'in.png');
    execFileSync(ffmpegInstaller.path, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240', '-frames:v', '1', png]);
    server = createServer((req, res) => {
      if (req.url === '/img.png') fs.createReadStream(png).pipe(res.writeHead(200, { 'content-type': 'image/png' }));
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not an image</html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await Promise.all([provider, ...others].map((p) => p.close?.()));
    await new Promise((r) => server.close(r));
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  /** Poll until the task leaves 'processing'; returns the final snapshot and the progress seen. */
  async function settle(p: Provider, request: GenerationRequest, providerTaskId = `local-${request.taskId}`): Promise<{ snap: Snapshot; seen: number[] }> {
    const seen: number[] = [];
    for (;;) {
      const snap = await p.poll(providerTaskId, { ...ctx(), request });
      if (snap.state !== 'processing') return { snap, seen };
      if (snap.progress !== null) seen.push(snap.progress);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function render(request: GenerationRequest, p = provider): Promise<{ snap: Snapshot; seen: number[] }> {
    const t0 = Date.now();
    const out = await p.submit(request, ctx());
    expect(Date.now() - t0).toBeLessThan(500); // returns at once, the render runs in the background
    expect(out).toEqual({ providerTaskId: `local-${request.taskId}` });
    return settle(p, request);
  }

  const fileOf = (snap: Snapshot) => {
    if (snap.state !== 'completed' || snap.result.source.kind !== 'file') throw new Error(`not completed: ${JSON.stringify(snap)}`);
    return snap.result.source.path;
  };
  const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  const small = { durationSeconds: 1, width: 320, height: 180 };

  it('describes its capabilities', () => {
    expect(provider.kind).toBe('local');
    expect(provider.capabilities).toMatchObject({ textToVideo: true, imageToVideo: true, cancel: true, progress: true, seed: true, negativePrompt: false, resubmitSafe: true, durations: { min: 1, max: 60 }, models: ['reelay-title-card'] });
    expect(createLocalProvider(config(), { workDir }).capabilities.models).toEqual(['reelay-title-card']);
    expect(createLocalProvider({ ...config(), models: ['m1'] }, { workDir }).capabilities.models).toEqual(['m1']);
  });

  it('renders a text-to-video title card as a real MP4', async () => {
    const { snap, seen } = await render({ taskId: 't2v', prompt: "It's 100% \"real\": a\\b [x], y; z — a cat surfing a wave at sunset", ...small });
    const file = fileOf(snap);
    expect(file).toBe(path.join(workDir, 'local', 't2v.mp4'));
    expect(snap).toMatchObject({ result: { mediaType: 'VIDEO', contentType: 'video/mp4', width: 320, height: 180, durationSeconds: 1 } });
    expect(fs.readFileSync(file).subarray(4, 8).toString('latin1')).toBe('ftyp');
    const info = await validateMedia(file, 'VIDEO', { maxPixels: 40_000_000 });
    expect(info).toMatchObject({ width: 320, height: 180, contentType: 'video/mp4' });
    expect(info.durationSeconds).toBeCloseTo(1, 1);
    expect(seen.every((p, i) => p >= 0 && p <= 1 && (i === 0 || p >= seen[i - 1]))).toBe(true);
    expect(fs.readdirSync(path.join(workDir, 'local')).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('keeps square pixels and the requested size for portrait output', async () => {
    const portrait = { durationSeconds: 1, width: 180, height: 320 };
    const results = await Promise.all([
      render({ taskId: 'portrait-t2v', prompt: 'tall', ...portrait }),
      render({ taskId: 'portrait-i2v', prompt: 'tall image', image: { kind: 'file', path: png, contentType: 'image/png' }, ...portrait }),
    ]);
    for (const { snap } of results) {
      const out = execFileSync(ffprobeInstaller.path, ['-v', 'error', '-show_entries', 'stream=width,height,sample_aspect_ratio,nb_frames', '-of', 'json', fileOf(snap)], { encoding: 'utf8' });
      expect(JSON.parse(out).streams[0]).toMatchObject({ width: 180, height: 320, sample_aspect_ratio: '1:1', nb_frames: '24' });
    }
  });

  it('reports real, monotonic progress', async () => {
    const { snap, seen } = await render({ taskId: 'progress', prompt: 'progress', durationSeconds: 30, width: 480, height: 270 });
    fileOf(snap);
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.some((p) => p > 0 && p < 1)).toBe(true);
    expect(seen.every((p, i) => i === 0 || p >= seen[i - 1])).toBe(true);
  });

  it('renders byte-identical output for equal input, different for another seed', async () => {
    const base = { prompt: 'determinism', seed: 7, ...small };
    const [a, b, c] = await Promise.all([
      render({ taskId: 'det-a', ...base }),
      render({ taskId: 'det-b', ...base }),
      render({ taskId: 'det-c', ...base, seed: 8 }),
    ]);
    expect(sha(fileOf(a.snap))).toBe(sha(fileOf(b.snap)));
    expect(sha(fileOf(c.snap))).not.toBe(sha(fileOf(a.snap)));
  });

  it('renders image-to-video from a local file and from a URL', async () => {
    const [fromFile, fromUrl] = await Promise.all([
      render({ taskId: 'i2v-file', prompt: 'a test pattern, slowly', image: { kind: 'file', path: png, contentType: 'image/png' }, ...small }),
      render({ taskId: 'i2v-url', prompt: 'from the web', image: { kind: 'url', url: `${baseUrl}/img.png` }, ...small }),
    ]);
    for (const { snap } of [fromFile, fromUrl]) {
      const info = await validateMedia(fileOf(snap), 'VIDEO', { maxPixels: 40_000_000 });
      expect(info).toMatchObject({ width: 320, height: 180, contentType: 'video/mp4' });
      expect(info.durationSeconds).toBeCloseTo(1, 1);
    }
    expect(fs.readdirSync(path.join(workDir, 'local')).filter((f) => f.endsWith('.input'))).toEqual([]); // download removed
  });

  it('renders images of extreme aspect ratios (16384×1, 1×16384) without a huge intermediate frame', async () => {
    // Scaling such an image to cover the frame first would make a frame of billions of pixels.
    const wide = path.join(workDir, 'wide.png');
    const tall = path.join(workDir, 'tall.png');
    fs.writeFileSync(wide, makePng(16384, 1, { rgb: [200, 40, 40] }));
    fs.writeFileSync(tall, makePng(1, 16384, { rgb: [40, 40, 200] }));
    const [a, b] = await Promise.all([
      render({ taskId: 'i2v-wide', prompt: 'a thin line', image: { kind: 'file', path: wide, contentType: 'image/png' }, ...small }),
      render({ taskId: 'i2v-tall', prompt: 'a thin line', image: { kind: 'file', path: tall, contentType: 'image/png' }, ...small }),
    ]);
    for (const { snap } of [a, b]) expect(await validateMedia(fileOf(snap), 'VIDEO', { maxPixels: 40_000_000 })).toMatchObject({ width: 320, height: 180 });
  });

  it('fails readably on a non-image URL and on an unreadable image', async () => {
    const { snap: badUrl } = await render({ taskId: 'bad-url', prompt: 'x', image: { kind: 'url', url: `${baseUrl}/page` }, ...small });
    expect(badUrl).toMatchObject({ state: 'failed', code: 'INVALID_IMAGE' });
    const notImage = path.join(workDir, 'not-image.png');
    fs.writeFileSync(notImage, 'this is text');
    const { snap } = await render({ taskId: 'bad-file', prompt: 'x', image: { kind: 'file', path: notImage, contentType: 'image/png' }, ...small });
    expect(snap).toMatchObject({ state: 'failed', code: 'RENDER_FAILED' });
    if (snap.state === 'failed') {
      expect(snap.message.length).toBeGreaterThan(5);
      expect(snap.message).toMatch(/invalid data/i);
      expect(snap.message).not.toMatch(/0x[0-9a-f]{6,}|\n/);
    }
  });

  it('refuses a loopback image URL unless allowHosts lets it through', async () => {
    let hits = 0;
    const count = () => hits++;
    server.on('request', count);
    const strict = createLocalProvider({ ...config(), allowHosts: [] }, { workDir });
    others.push(strict);
    try {
      for (const [taskId, url] of [['ssrf-ip', `${baseUrl}/img.png`], ['ssrf-name', `${baseUrl.replace('127.0.0.1', 'localhost')}/img.png?token=s3cret`]] as const) {
        const { snap } = await render({ taskId, prompt: 'x', image: { kind: 'url', url }, ...small }, strict);
        expect(snap).toMatchObject({ state: 'failed', code: 'IMAGE_URL_FORBIDDEN' });
        if (snap.state === 'failed') {
          expect(snap.message).toMatch(/private or local address.*allowHosts/);
          expect(snap.message).not.toContain('s3cret');
        }
      }
      expect(hits).toBe(0);
    } finally {
      server.off('request', count);
    }
  });

  it('cancels a long render, removes the partial file and leaves nothing in memory', async () => {
    const request = { taskId: 'long', prompt: 'a very long render', durationSeconds: 30, width: 1280, height: 720 };
    await provider.submit(request, ctx());
    for (let i = 0; i < 100; i++) {
      const s = await provider.poll('local-long', { ...ctx(), request });
      if (s.state === 'processing' && s.progress) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const t0 = Date.now();
    await provider.cancel('local-long', ctx());
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(provider.heldJobs()).not.toContain('long'); // nothing left in memory
    expect(fs.readdirSync(path.join(workDir, 'local')).filter((f) => f.startsWith('long'))).toEqual([]);
    // The cancelled task's own poll (its signal aborted) never starts the render again.
    const cancelled = new AbortController();
    cancelled.abort(new Error('task cancelled'));
    await expect(provider.poll('local-long', { signal: cancelled.signal, request })).rejects.toThrow('task cancelled');
    expect(provider.heldJobs()).not.toContain('long');
  });

  it('forgets a render once a poll has reported how it ended', async () => {
    const { snap } = await render({ taskId: 'forget-done', prompt: 'x', ...small });
    fileOf(snap);
    const failed = await render({ taskId: 'forget-failed', prompt: 'x', image: { kind: 'url', url: `${baseUrl}/page` }, ...small });
    expect(failed.snap).toMatchObject({ state: 'failed' });
    expect(provider.heldJobs()).not.toContain('forget-done');
    expect(provider.heldJobs()).not.toContain('forget-failed');
  });

  it('kills a render that makes no progress (RENDER_STALLED, SIGKILL when SIGTERM is ignored) and forgets it', async () => {
    // A jammed ffmpeg: reports the same frame forever and ignores SIGTERM.
    const fake = path.join(workDir, 'jammed-ffmpeg.cjs');
    fs.writeFileSync(fake, [
      '#!/usr/bin/env node',
      "process.on('SIGTERM', () => {});",
      "require('fs').writeFileSync(__filename + '.pid', String(process.pid));",
      "setInterval(() => process.stdout.write('frame=0\\nout_time_us=0\\nprogress=continue\\n'), 50);",
    ].join('\n'));
    fs.chmodSync(fake, 0o755);
    // Nothing it prints ever counts as progress. The stall window must outlast node starting the
    // script (else SIGTERM-ignoring is never exercised): on a loaded machine, try a longer one.
    let pidText: string | undefined;
    for (const stallMs of [1500, 5000, 15_000]) {
      const jammed = createLocalProvider(config({ ffmpegPath: fake }), { workDir, renderStallMs: stallMs });
      others.push(jammed);
      const t0 = Date.now();
      const { snap } = await render({ taskId: 'stalled', prompt: 'x', ...small }, jammed);
      expect(snap).toMatchObject({ state: 'failed', code: 'RENDER_STALLED', message: expect.stringContaining(`no progress for ${stallMs / 1000} s`) });
      expect(Date.now() - t0).toBeLessThan(stallMs + 10_000);
      expect(jammed.heldJobs()).toEqual([]);
      pidText = fs.existsSync(`${fake}.pid`) ? fs.readFileSync(`${fake}.pid`, 'utf8') : undefined;
      if (pidText) break;
    }
    const pid = Number(pidText);
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).toThrow(); // gone
    expect(fs.readdirSync(path.join(workDir, 'local')).filter((f) => f.startsWith('stalled'))).toEqual([]);
  });

  it('runs at most maxConcurrency renders at once, also when polls resume many orphaned tasks', async () => {
    // A fake ffmpeg that logs when it starts and ends, takes 300 ms and writes its output file.
    const fake = path.join(workDir, 'logging-ffmpeg.cjs');
    const log = path.join(workDir, 'renders.log');
    fs.writeFileSync(fake, [
      '#!/usr/bin/env node',
      "const fs = require('fs');",
      `const log = ${JSON.stringify(log)};`,
      "fs.appendFileSync(log, `start ${Date.now()}\\n`);",
      "const out = process.argv[process.argv.length - 1].replace(/^file:/, '');",
      "setTimeout(() => { fs.writeFileSync(out, 'x'); process.stdout.write('progress=end\\n'); fs.appendFileSync(log, `end ${Date.now()}\\n`); }, 300);",
    ].join('\n'));
    fs.chmodSync(fake, 0o755);
    const limited = createLocalProvider({ ...config({ ffmpegPath: fake }), maxConcurrency: 2 }, { workDir });
    others.push(limited);
    // Six PROCESSING tasks a restarted runner resumes: the first poll of each starts its render.
    const requests = Array.from({ length: 6 }, (_, i): GenerationRequest => ({ taskId: `orphan-${i}`, prompt: 'x', ...small }));
    const first = await Promise.all(requests.map((r) => limited.poll(`local-${r.taskId}`, { ...ctx(), request: r })));
    expect(first.every((s) => s.state === 'processing')).toBe(true);
    // Four wait for one of the two renderers, and say so.
    await expect.poll(async () => {
      const snaps = await Promise.all(requests.map((r) => limited.poll(`local-${r.taskId}`, { ...ctx(), request: r })));
      return snaps.filter((s) => s.state === 'processing' && s.message === 'waiting for a free renderer').length;
    }, { timeout: 5000, interval: 5 }).toBe(4);
    const ends = await Promise.all(requests.map((r) => settle(limited, r)));
    expect(ends.map((e) => e.snap.state)).toEqual(Array(6).fill('completed'));
    // Replay the log: never more than two ffmpeg processes alive at once.
    let alive = 0;
    let most = 0;
    const marks = fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([kind, at]) => ({ kind, at: Number(at) }));
    for (const m of marks.sort((a, b) => a.at - b.at || (a.kind === 'end' ? -1 : 1))) most = Math.max(most, (alive += m.kind === 'start' ? 1 : -1));
    expect(marks.filter((m) => m.kind === 'start')).toHaveLength(6);
    expect(most).toBe(2);
  });

  it('cancels a render still waiting for a renderer without ever starting it', async () => {
    const fake = path.join(workDir, 'slow-ffmpeg.cjs');
    const log = path.join(workDir, 'slow-renders.log');
    fs.writeFileSync(fake, [
      '#!/usr/bin/env node',
      `require('fs').appendFileSync(${JSON.stringify(log)}, process.argv[process.argv.length - 1] + '\\n');`,
      "setInterval(() => process.stdout.write('frame=1\\nout_time_us=1\\nprogress=continue\\n'), 50);",
    ].join('\n'));
    fs.chmodSync(fake, 0o755);
    const one = createLocalProvider({ ...config({ ffmpegPath: fake }), maxConcurrency: 1 }, { workDir });
    others.push(one);
    const busy: GenerationRequest = { taskId: 'busy', prompt: 'x', ...small };
    const queued: GenerationRequest = { taskId: 'queued', prompt: 'x', ...small };
    await one.submit(busy, ctx());
    await one.submit(queued, ctx());
    // One of the two takes the only renderer (on a loaded machine not always the first submitted); the other waits.
    const WAITING = 'waiting for a free renderer';
    let waiting: GenerationRequest | undefined;
    await expect
      .poll(async () => {
        for (const r of [queued, busy]) if ((await one.poll(`local-${r.taskId}`, { ...ctx(), request: r })).message === WAITING) waiting = r;
        return waiting?.taskId;
      }, { timeout: 5000, interval: 5 })
      .toBeDefined();
    const rendering = waiting === queued ? busy : queued;
    await one.cancel(`local-${waiting!.taskId}`, ctx());
    expect(one.heldJobs()).toEqual([rendering.taskId]);
    const started = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
    await expect.poll(started, { timeout: 5000 }).toMatch(new RegExp(rendering.taskId));
    await one.cancel(`local-${rendering.taskId}`, ctx()); // frees the renderer: the cancelled one must not take it
    await new Promise((r) => setTimeout(r, 500));
    expect(started()).not.toMatch(new RegExp(waiting!.taskId));
  });

  it('stops a real render jammed by a corrupt image once it stalls', async () => {
    const corrupt = path.join(workDir, 'corrupt.png');
    fs.writeFileSync(corrupt, makePng(640, 480, { corrupt: true }));
    const watched = createLocalProvider(config(), { workDir, renderStallMs: 2000 });
    others.push(watched);
    const { snap } = await render({ taskId: 'corrupt-image', prompt: 'x', image: { kind: 'file', path: corrupt, contentType: 'image/png' }, ...small }, watched);
    // ffmpeg spins on it at full CPU with progress 0, forever without the watchdog.
    expect(snap).toMatchObject({ state: 'failed', code: 'RENDER_STALLED' });
    expect(watched.heldJobs()).toEqual([]);
  });

  it('after a restart, finds the finished file or renders again', async () => {
    const done = { taskId: 'crash-done', prompt: 'survives restarts', ...small };
    const first = fileOf((await render(done)).snap);
    const fresh = createLocalProvider(config(), { workDir });
    others.push(fresh);
    expect(await fresh.poll('local-crash-done', { ...ctx(), request: done })).toMatchObject({ state: 'completed', result: { source: { kind: 'file', path: first }, width: 320, height: 180 } });

    const lost = { taskId: 'crash-lost', prompt: 'was rendering when we crashed', ...small };
    expect(await fresh.poll('local-crash-lost', { ...ctx(), request: lost })).toMatchObject({ state: 'processing' });
    const { snap } = await settle(fresh, lost);
    expect((await validateMedia(fileOf(snap), 'VIDEO', { maxPixels: 40_000_000 })).width).toBe(320);
  });

  it('reports a missing ffmpeg binary as a clear failure', async () => {
    const broken = createLocalProvider(config({ ffmpegPath: path.join(workDir, 'no-such-ffmpeg') }), { workDir });
    others.push(broken);
    const { snap } = await render({ taskId: 'no-ffmpeg', prompt: 'x', ...small }, broken);
    expect(snap).toMatchObject({ state: 'failed', code: 'FFMPEG_NOT_FOUND' });
  });

  it('close() stops running renders', async () => {
    const p = createLocalProvider(config(), { workDir });
    const request = { taskId: 'closing', prompt: 'shutdown', durationSeconds: 30, width: 1280, height: 720 };
    await p.submit(request, ctx());
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await p.close?.();
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(fs.existsSync(path.join(workDir, 'local', 'closing.partial.mp4'))).toBe(false);
  });
});
