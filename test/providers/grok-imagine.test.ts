// Contract tests of the grok-imagine adapter against its emulator (seed 001).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/providers/errors.js';
import { createGrokImagineProvider, statusMap } from '../../src/providers/grok-imagine/index.js';
import type { GenerationRequest, Provider, ProviderConfig, ResultSource } from '../../src/providers/types.js';
import { TINY_PNG, fakeMp4 } from '../emulators/common.js';
import { NO_VIDEO_URL_MESSAGE, grokErrorBody, startGrokImagineEmulator, type GrokImagineEmulator } from '../emulators/grok-imagine.js';

let emu: GrokImagineEmulator;
let dir: string;

beforeAll(async () => {
  emu = await startGrokImagineEmulator({ apiKey: 'grok-key', delayMs: 50 });
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'grok-'));
});
afterAll(async () => {
  await emu.close();
  await fs.rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  emu.server.faults.clear();
  emu.neverFinish = false;
});

function config(over: Partial<ProviderConfig> = {}): ProviderConfig {
  return { id: 'grok', kind: 'grok-imagine', baseUrl: emu.url, apiKey: 'grok-key', models: [], maxConcurrency: 2, pollIntervalMs: 50, timeoutMs: 60_000, fallback: [], allowHosts: [], options: {}, ...over };
}
const provider = (over: Partial<ProviderConfig> = {}): Provider => createGrokImagineProvider(config(over), { workDir: dir });
const ctx = () => ({ signal: AbortSignal.timeout(10_000) });
const IMAGE = { kind: 'url' as const, url: 'https://example.com/my-image.jpg' };
const req = (prompt: string, over: Partial<GenerationRequest> = {}): GenerationRequest => ({ taskId: 't1', prompt, image: IMAGE, ...over });

async function download(source: ResultSource): Promise<Response> {
  if (source.kind !== 'url') throw new Error('expected a URL result');
  return fetch(source.url, { headers: source.headers });
}

async function caught(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

const lastGeneration = () => emu.server.requests.filter((r) => r.method === 'POST').at(-1)!;

describe('grok-imagine adapter', () => {
  it('declares honest capabilities, no health, and a status table', () => {
    const p = provider({ models: ['grok-imagine-1.0'] });
    expect(p.kind).toBe('grok-imagine');
    expect(p.capabilities).toMatchObject({ textToVideo: false, imageToVideo: true, cancel: false, progress: false, negativePrompt: false, seed: false, durations: null, customSize: false, aspectRatios: [], resubmitSafe: false });
    expect(p.capabilities.models).toEqual(['grok-imagine-0.9', 'grok-imagine-1.0']);
    expect(p.health).toBeUndefined();
    expect(statusMap).toEqual({ completed: 'completed' });
  });

  it('submit does the whole call and returns the completed result', async () => {
    const out = await provider().submit(req('让图片中的人物挥手微笑'), ctx());
    expect(out.providerTaskId).toMatch(/^video-\d+/);
    expect(out.snapshot).toEqual({ state: 'completed', upstreamStatus: 'completed', result: { source: { kind: 'url', url: emu.videoUrl(out.providerTaskId), headers: { authorization: 'Bearer grok-key' } }, mediaType: 'VIDEO', durationSeconds: null, width: null, height: null } });
    const sent = lastGeneration();
    expect(sent.headers.authorization).toBe('Bearer grok-key');
    expect(sent.json).toEqual({ image_url: IMAGE.url, prompt: '让图片中的人物挥手微笑', model: 'grok-imagine-0.9' });
    if (out.snapshot?.state !== 'completed') throw new Error('expected completed');
    const res = await download(out.snapshot.result.source);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(fakeMp4(out.providerTaskId))).toBe(true);
  });

  it('a file image is sent as a data: URL', async () => {
    const file = path.join(dir, 'in.png');
    await fs.writeFile(file, TINY_PNG);
    const out = await provider().submit(req('wave', { image: { kind: 'file', path: file, contentType: 'image/png' } }), ctx());
    const sent = lastGeneration().json as { image_url: string };
    expect(sent.image_url).toBe(`data:image/png;base64,${TINY_PNG.toString('base64')}`);
    expect(emu.generations.get(out.providerTaskId)!.imageUrl).toBe(sent.image_url);
  });

  it('without an image nothing is sent', async () => {
    const before = emu.createRequests;
    expect(await caught(provider().submit(req('x', { image: null }), ctx()))).toMatchObject({ code: 'IMAGE_REQUIRED', retryable: false, maybeCreated: false });
    expect(emu.createRequests).toBe(before);
  });

  it('maps a wrong or missing key to unauthorized without leaking the key', async () => {
    const err = await caught(provider({ apiKey: 'wrong-key' }).submit(req('x'), ctx()));
    expect(err).toMatchObject({ code: 'unauthorized', status: 401, message: '未授权访问', retryable: false, maybeCreated: false });
    expect(err.message).not.toContain('wrong-key');
    expect(await caught(provider({ apiKey: undefined }).submit(req('x'), ctx()))).toMatchObject({ code: 'unauthorized' });
  });

  it('maps invalid_model and invalid_image_url with the upstream message', async () => {
    expect(await caught(provider().submit(req('x', { model: 'xxx' }), ctx()))).toMatchObject({ code: 'invalid_model', status: 400, message: "模型 'xxx' 不是视频生成模型，请使用 grok-imagine-0.9", retryable: false, maybeCreated: false });
    expect(await caught(provider().submit(req('x', { image: { kind: 'url', url: 'ftp://example.com/a.png' } }), ctx()))).toMatchObject({ code: 'invalid_image_url', message: '图片URL必须是http/https链接或base64格式（data:image/...）', retryable: false });
    expect(await caught(provider().submit(req('x', { image: { kind: 'url', url: '' } }), ctx()))).toMatchObject({ code: 'invalid_image_url', message: '图片URL不能为空' });
  });

  it('maps an empty prompt (pydantic 422) to validation_error', async () => {
    expect(await caught(provider().submit(req(''), ctx()))).toMatchObject({ code: 'validation_error', status: 422, message: 'body.prompt: String should have at least 1 character', retryable: false });
  });

  it('maps no_video_url ([fail] and failNext) to a final, not-created error', async () => {
    expect(await caught(provider().submit(req('a [fail]'), ctx()))).toMatchObject({ code: 'no_video_url', status: 500, message: NO_VIDEO_URL_MESSAGE, retryable: false, maybeCreated: false });
    emu.failNext('视频生成失败：超时');
    expect(await caught(provider().submit(req('fine'), ctx()))).toMatchObject({ code: 'no_video_url', message: '视频生成失败：超时' });
  });

  it('maps HTTP 403 (documented Cloudflare block body) to forbidden', async () => {
    const message = '请求失败: 403 - 您的IP被拦截，请尝试以下方法之一: 1.更换IP 2.使用代理 3.配置CF值';
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'status', status: 403, body: grokErrorBody(message, 'HTTP_ERROR', 'HTTP_ERROR') } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'forbidden', status: 403, message, retryable: false, maybeCreated: false });
  });

  it('a Grok HTTP_ERROR inside a 500 keeps its code; retried only when Grok refused for now', async () => {
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'status', status: 500, body: grokErrorBody('请求失败: 403 - 您的IP被拦截', 'HTTP_ERROR', 'HTTP_ERROR') } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'HTTP_ERROR', retryable: false, maybeCreated: false });
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'status', status: 500, body: grokErrorBody('请求失败: 429 - Too Many Requests', 'HTTP_ERROR', 'HTTP_ERROR') } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'HTTP_ERROR', retryable: true, maybeCreated: false });
  });

  it('an internal_server_error 500 may have generated something', async () => {
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'status', status: 500, body: grokErrorBody('服务器内部错误', 'internal_error', 'internal_server_error') } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'internal_server_error', message: '服务器内部错误', retryable: true, maybeCreated: true });
  });

  it.each([503, 429])('HTTP %i is retryable and created nothing', async (status) => {
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'status', status } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ status, retryable: true, maybeCreated: false });
  });

  it('a reset, or no answer within requestTimeoutMs, is "maybe created"', async () => {
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'reset' } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_NETWORK', retryable: true, maybeCreated: true });
    expect(await caught(provider({ requestTimeoutMs: 150 }).submit(req('[never]'), ctx()))).toMatchObject({ code: 'UPSTREAM_TIMEOUT', maybeCreated: true });
    emu.neverFinish = true;
    expect(await caught(provider({ requestTimeoutMs: 150 }).submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_TIMEOUT', maybeCreated: true });
  });

  it('waits longer than the async kinds: a slow answer within requestTimeoutMs is fine', async () => {
    emu.delayMs = 400;
    try {
      const out = await provider({ requestTimeoutMs: 2000 }).submit(req('slow'), ctx());
      expect(out.snapshot?.state).toBe('completed');
    } finally {
      emu.delayMs = 50;
    }
  });

  it('malformed JSON or a body without video_url is UPSTREAM_MALFORMED, maybe created', async () => {
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'malformed' } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', maybeCreated: true });
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'status', status: 200, body: { id: 'video-1', status: 'completed' } } });
    expect(await caught(provider().submit(req('x'), ctx()))).toMatchObject({ code: 'UPSTREAM_MALFORMED', maybeCreated: true });
  });

  it('poll cannot look a synchronous call up: permanent UPSTREAM_UNCERTAIN', async () => {
    const before = emu.server.requests.length;
    expect(await caught(provider().poll('video-1', { ...ctx(), request: req('x') }))).toMatchObject({ code: 'UPSTREAM_UNCERTAIN', retryable: false });
    expect(emu.server.requests.length).toBe(before);
  });

  it('an expired video URL ([vanish]) answers 404', async () => {
    const out = await provider().submit(req('[vanish]'), ctx());
    if (out.snapshot?.state !== 'completed') throw new Error('expected completed');
    expect((await download(out.snapshot.result.source)).status).toBe(404);
  });

  it('counts generation requests, so "never pay twice" can be checked', async () => {
    const before = emu.createRequests;
    emu.server.faults.add({ match: 'POST /v1/videos/generations', times: 1, fault: { type: 'status', status: 503 } });
    await caught(provider().submit(req('x'), ctx()));
    await provider().submit(req('x'), ctx());
    expect(emu.createRequests).toBe(before + 2);
  });
});
