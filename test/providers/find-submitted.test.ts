// Looking up a submission whose answer was lost: only a task the upstream
// lists as created at or after the moment it was sent is adopted; a listed
// task without a usable creation time never is.
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATED_TOLERANCE_MS, matchSubmitted, zonedTime } from '../../src/providers/lookup.js';
import { createSoraUiProvider } from '../../src/providers/sora-ui/index.js';
import { createTasksApiProvider } from '../../src/providers/tasks-api/index.js';
import type { ProviderConfig } from '../../src/providers/types.js';
import { startSoraUiEmulator, type SoraUiEmulator } from '../emulators/sora-ui.js';
import { startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';

const sent = new Date('2026-03-01T10:00:00.500Z');
const at = (ms: number) => new Date(sent.getTime() + ms);
const want = (over: Partial<Parameters<typeof matchSubmitted>[1]> = {}) => ({ prompt: 'a fox', since: sent, exclude: new Set<string>(), ...over });

describe('matchSubmitted', () => {
  it('adopts the oldest same-prompt task created since the submission was sent', () => {
    const listed = [
      { id: 'later', prompt: 'a fox', createdAt: at(4000) },
      { id: 'ours', prompt: 'a fox', createdAt: at(300) },
      { id: 'other prompt', prompt: 'a hen', createdAt: at(100) },
    ];
    expect(matchSubmitted(listed, want())).toBe('ours');
  });

  it('never adopts a task whose creation time is unknown', () => {
    expect(matchSubmitted([{ id: 'old?', prompt: 'a fox', createdAt: null }], want())).toBeNull();
    expect(matchSubmitted([{ id: 'old?', prompt: 'a fox', createdAt: null }, { id: 'ours', prompt: 'a fox', createdAt: at(200) }], want())).toBe('ours');
  });

  it('never adopts one created before the submission was sent, beyond whole-second rounding', () => {
    expect(matchSubmitted([{ id: 'a minute old', prompt: 'a fox', createdAt: at(-60_000) }], want())).toBeNull();
    expect(matchSubmitted([{ id: 'just before', prompt: 'a fox', createdAt: at(-CREATED_TOLERANCE_MS - 1) }], want())).toBeNull();
    // "10:00:00" for a task created at 10:00:00.700, 200 ms after sending at 10:00:00.500.
    expect(matchSubmitted([{ id: 'whole seconds', prompt: 'a fox', createdAt: new Date('2026-03-01T10:00:00Z') }], want())).toBe('whole seconds');
  });

  it('skips tasks reelay tracks and other models', () => {
    const listed = [
      { id: 'tracked', prompt: 'a fox', createdAt: at(100) },
      { id: 'other model', prompt: 'a fox', model: 'm2', createdAt: at(200) },
      { id: 'ours', prompt: 'a fox', model: 'm1', createdAt: at(300) },
    ];
    expect(matchSubmitted(listed, want({ model: 'm1', exclude: new Set(['tracked']) }))).toBe('ours');
  });
});

describe('zonedTime', () => {
  it('reads times with a zone, and naive ones only with a declared zone', () => {
    expect(zonedTime('2024-01-01T12:00:00Z')?.toISOString()).toBe('2024-01-01T12:00:00.000Z');
    expect(zonedTime('2024-01-01T12:00:00+08:00')?.toISOString()).toBe('2024-01-01T04:00:00.000Z');
    expect(zonedTime('2024-01-01T12:00:00')).toBeNull();
    expect(zonedTime('2024-01-01T12:00:00', 'Z')?.toISOString()).toBe('2024-01-01T12:00:00.000Z');
    expect(zonedTime('2024-01-01 12:00:00', '+08:00')?.toISOString()).toBe('2024-01-01T04:00:00.000Z');
    expect(zonedTime('2024-01-01T12:00:00', 'Asia/Shanghai')).toBeNull();
    expect(zonedTime('yesterday', 'Z')).toBeNull();
    expect(zonedTime(null, 'Z')).toBeNull();
  });
});

const base = { models: [], maxConcurrency: 2, pollIntervalMs: 50, timeoutMs: 60_000, requestTimeoutMs: 2000, fallback: [], allowHosts: [], options: {} } satisfies Partial<ProviderConfig>;
const ctx = () => ({ signal: AbortSignal.timeout(10_000) });
const req = (prompt: string) => ({ taskId: 't1', prompt });
const HOUR = 3_600_000;

describe('sora-ui lookup', () => {
  let emu: SoraUiEmulator;
  beforeAll(async () => {
    emu = await startSoraUiEmulator({ processingAfterMs: 50, completeAfterMs: 200 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const provider = () => createSoraUiProvider({ ...base, id: 'sora', kind: 'sora-ui', baseUrl: emu.url, apiKey: emu.token }, { workDir: os.tmpdir() });

  it('adopts the task created since the submission, not an older one with the same prompt', async () => {
    const p = provider();
    const prompt = 'sora: the same prompt twice';
    const old = (await p.submit(req(prompt), ctx())).providerTaskId;
    emu.tasks.get(old)!.createdAt -= HOUR;
    const since = new Date();
    expect(await p.findSubmitted!(req(prompt), { since, exclude: new Set() }, ctx())).toBeNull();
    const ours = (await p.submit(req(prompt), ctx())).providerTaskId;
    expect(await p.findSubmitted!(req(prompt), { since, exclude: new Set() }, ctx())).toBe(ours);
  });

  it('never adopts a listed task without a creation time', async () => {
    const p = provider();
    const prompt = 'sora: no creation time';
    emu.server.faults.add({
      match: 'GET /api/video/tasks',
      fault: { type: 'status', status: 200, body: { success: true, data: { tasks: [{ videoId: 'undated', prompt, model: 'sora_video2', status: 'COMPLETED' }], total: 1 } } },
      times: 1,
    });
    expect(await p.findSubmitted!(req(prompt), { since: new Date(), exclude: new Set() }, ctx())).toBeNull();
  });
});

describe('tasks-api lookup', () => {
  let emu: TasksApiEmulator;
  beforeAll(async () => {
    emu = await startTasksApiEmulator({ processingAfterMs: 50, completeAfterMs: 200 });
  });
  afterAll(async () => {
    await emu.close();
  });
  const provider = (options: Record<string, unknown> = {}) => createTasksApiProvider({ ...base, id: 'tasks', kind: 'tasks-api', baseUrl: emu.baseUrl, options }, { workDir: os.tmpdir() });

  it('refuses to adopt from a list of naive created_at times (the documented API gives no zone)', async () => {
    const p = provider();
    const prompt = 'tasks: naive times';
    const since = new Date();
    await p.submit(req(prompt), ctx());
    expect(await p.findSubmitted!(req(prompt), { since, exclude: new Set() }, ctx())).toBeNull();
  });

  it('with options.createdAtZone, adopts the task created since the submission, not an older one', async () => {
    const p = provider({ createdAtZone: 'Z' }); // the emulator writes UTC
    const prompt = 'tasks: declared zone';
    const old = (await p.submit(req(prompt), ctx())).providerTaskId;
    emu.tasks.get(old)!.createdAt -= HOUR;
    const since = new Date();
    expect(await p.findSubmitted!(req(prompt), { since, exclude: new Set() }, ctx())).toBeNull();
    const ours = (await p.submit(req(prompt), ctx())).providerTaskId;
    expect(await p.findSubmitted!(req(prompt), { since, exclude: new Set() }, ctx())).toBe(ours);
  });

  it('rejects a zone it cannot use', () => {
    expect(() => provider({ createdAtZone: 'Asia/Shanghai' })).toThrow(/createdAtZone/);
  });
});
