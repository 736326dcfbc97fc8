// The runner and state machine against a scriptable provider: the suite, run on PGlite by
// runner.test.ts and on Postgres by runner-postgres.test.ts (two files, so two workers run them at once).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { UpstreamError } from '../../src/providers/errors.js';
import { HealthMonitor } from '../../src/providers/health.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { takeToken } from '../../src/db/take-rate-token.js';
import { claimDueTasks } from '../../src/runner/claim.js';
import { cancelTask } from '../../src/runner/cancel.js';
import { Runner } from '../../src/runner/runner.js';
import { getEventsForTasks } from '../../src/db/read-tasks.js';
import { fakeMp4, SAMPLE_VIDEO } from '../emulators/media.js';
import { FakeProvider, fakeConfig } from '../support/fake-provider.js';
import { openTestStore, type TestStore } from '../support/store.js';

const log = createLogger('silent');

function fileResult(dir: string, name = 'out.mp4') {
  const file = path.join(dir, name);
  fs.writeFileSync(file, fakeMp4('runner'));
  return { state: 'completed' as const, result: { source: { kind: 'file' as const, path: file }, mediaType: 'VIDEO' as const } };
}

/** The runner's suite on one database (runner.test.ts: PGlite, runner-postgres.test.ts: Postgres, two files so two workers run them at once); `skip` when that database is missing. */
export function runnerSuite(kind: 'pglite' | 'postgres', skip = false): void {
  describe.skipIf(skip)(`runner on ${kind}`, () => {
    let store: TestStore;
    let dir: string;
    const runners: Runner[] = [];

    beforeEach(async () => {
      store = await openTestStore(kind);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-runner-'));
    });
    afterEach(async () => {
      await Promise.all(runners.splice(0).map((r) => r.stop(2000)));
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    function startRunner(provider: FakeProvider, over: Partial<ReturnType<typeof fakeConfig>> = {}, leaseMs = 5000, maxAttempts = 3, others: FakeProvider[] = []) {
      const registry = ProviderRegistry.of([{ config: fakeConfig(provider.id, over), provider }, ...others.map((o) => ({ config: fakeConfig(o.id), provider: o }))]);
      const health = new HealthMonitor(registry, store.database.db, log, { failureThreshold: 2 });
      const runner = new Runner({ db: store.database.db, events: store.events, registry, health, filesDir: dir, log, leaseMs, concurrency: 16, maxAttempts, idleMs: 100 });
      runner.start();
      runners.push(runner);
      return Object.assign(runner, { health });
    }

    it('submits, records progress and completes with the stored file', async () => {
      const p = new FakeProvider();
      p.pollScript = [{ state: 'processing', progress: 0.2, upstreamStatus: 'running' }, { state: 'processing', progress: 0.7, upstreamStatus: 'running' }, fileResult(dir)];
      startRunner(p);
      const task = await store.addTask();
      const done = await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(done.providerTaskId).toBe('up-1');
      expect(done.progress).toBe(1);
      expect(done.result?.sizeBytes).toBe(fakeMp4('runner').length);
      expect(done.result).toMatchObject({ width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height, durationSeconds: SAMPLE_VIDEO.durationSeconds });
      expect(done.result?.contentType).toBe('video/mp4');
      expect(fs.existsSync(path.join(dir, done.result!.file))).toBe(true);
      const events = await getEventsForTasks(store.database.db, [task.id]);
      expect(events.map((e) => e.status)).toEqual(expect.arrayContaining(['QUEUED', 'PROCESSING', 'COMPLETED']));
      expect(events.some((e) => e.message?.includes('accepted by fake as up-1'))).toBe(true);
      expect(p.submits).toHaveLength(1);
    });

    it('retries a refused submission (nothing created) and then succeeds', async () => {
      const p = new FakeProvider();
      p.submitScript = [new UpstreamError({ code: 'UPSTREAM_RATE_LIMITED', message: 'slow down', status: 429, retryable: true, maybeCreated: false })];
      p.pollScript = [fileResult(dir)];
      startRunner(p, { pollIntervalMs: 50 });
      const task = await store.addTask();
      const done = await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(p.submits).toHaveLength(2);
      expect(done.attempts).toBe(2);
    });

    it('never submits twice when the upstream may have created the task', async () => {
      const p = new FakeProvider();
      p.submitScript = [new UpstreamError({ code: 'UPSTREAM_TIMEOUT', message: 'upstream did not answer within 30 s', retryable: true, maybeCreated: true })];
      startRunner(p);
      const task = await store.addTask();
      const failed = await store.waitFor(task.id, (t) => t.status === 'FAILED');
      expect(failed.errorCode).toBe('UPSTREAM_UNCERTAIN');
      expect(failed.errorMessage).toMatch(/did not submit it again/);
      expect(p.submits).toHaveLength(1);
    });

    it('keeps one worker per task when a claim hands back a task it still works on (its lease lapsed under load)', async () => {
      const p = new FakeProvider();
      p.submitScript = [{ delayMs: 1500 }];
      p.pollScript = [fileResult(dir)];
      startRunner(p, { pollIntervalMs: 50 }, 30_000);
      const task = await store.addTask();
      const end = Date.now() + 10_000;
      while (p.submits.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      // While the submission is in flight, the lease lapses (a stalled event loop, a slow database):
      // the next claim finds the task as an orphan, and hands it back to this same runner.
      await store.database.db.execute(sql`update tasks set lease_expires_at = now() - interval '1 second', next_poll_at = now() - interval '1 second' where id = ${task.id}`);
      const done = await store.waitFor(task.id, (t) => t.status === 'COMPLETED' || t.status === 'FAILED');
      expect(done.status).toBe('COMPLETED');
      expect(p.submits).toHaveLength(1);
    });

    it('fails with the upstream message on a permanent error', async () => {
      const p = new FakeProvider();
      p.submitScript = [new UpstreamError({ code: 'UPSTREAM_HTTP_400', message: 'Prompt cannot be empty', status: 400, retryable: false, maybeCreated: false })];
      startRunner(p);
      const task = await store.addTask();
      const failed = await store.waitFor(task.id, (t) => t.status === 'FAILED');
      expect(failed).toMatchObject({ errorCode: 'UPSTREAM_HTTP_400', errorMessage: 'Prompt cannot be empty' });
    });

    it('gives up on a refused submission after the attempt limit', async () => {
      const p = new FakeProvider();
      const refusal = () => new UpstreamError({ code: 'UPSTREAM_UNREACHABLE', message: 'cannot connect', retryable: true, maybeCreated: false });
      p.submitScript = [refusal(), refusal(), refusal(), refusal()];
      startRunner(p, { pollIntervalMs: 50 }, 5000, 3);
      const task = await store.addTask();
      const failed = await store.waitFor(task.id, (t) => t.status === 'FAILED');
      expect(failed.errorCode).toBe('UPSTREAM_UNREACHABLE');
      expect(failed.errorMessage).toMatch(/after 3 attempts/);
      expect(p.submits).toHaveLength(3);
    });

    it('keeps polling through transient poll errors', async () => {
      const p = new FakeProvider();
      const flaky = new UpstreamError({ code: 'UPSTREAM_ERROR', message: 'bad gateway', status: 502, retryable: true, maybeCreated: true });
      p.pollScript = [flaky, flaky, { state: 'processing', progress: 0.5 }, fileResult(dir)];
      startRunner(p, { pollIntervalMs: 20 });
      const task = await store.addTask();
      await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(p.submits).toHaveLength(1);
    });

    it('fails a vanished upstream task with the permanent error', async () => {
      const p = new FakeProvider();
      p.pollScript = [new UpstreamError({ code: 'UPSTREAM_TASK_NOT_FOUND', message: 'upstream task up-1 no longer exists', status: 404, retryable: false, maybeCreated: false })];
      startRunner(p);
      const task = await store.addTask();
      const failed = await store.waitFor(task.id, (t) => t.status === 'FAILED');
      expect(failed.errorCode).toBe('UPSTREAM_TASK_NOT_FOUND');
    });

    it('maps an upstream failure and an upstream cancellation', async () => {
      const p = new FakeProvider();
      p.pollScript = [{ state: 'failed', code: 'UPSTREAM_FAILED', message: 'Video generation failed: Invalid prompt format' }];
      startRunner(p);
      const task = await store.addTask();
      const failed = await store.waitFor(task.id, (t) => t.status === 'FAILED');
      expect(failed.errorMessage).toBe('Video generation failed: Invalid prompt format');
    });

    it('fails with TIMEOUT after the provider timeout and cancels upstream', async () => {
      const p = new FakeProvider();
      p.pollScript = [{ state: 'processing', progress: 0.1 }];
      startRunner(p, { timeoutMs: 1000, pollIntervalMs: 50 });
      const task = await store.addTask();
      const failed = await store.waitFor(task.id, (t) => t.status === 'FAILED');
      expect(failed.errorCode).toBe('TIMEOUT');
      await expect.poll(() => p.cancels).toEqual(['up-1']);
    });

    it('honours maxConcurrency: extra tasks stay QUEUED in creation order', async () => {
      const p = new FakeProvider();
      p.pollScript = [{ state: 'processing', progress: 0.1 }];
      startRunner(p, { maxConcurrency: 2 });
      const tasks = [];
      for (let i = 0; i < 4; i++) tasks.push(await store.addTask({ prompt: `task ${i}` }));
      await store.waitFor(tasks[1]!.id, (t) => t.status === 'PROCESSING');
      const first = await store.waitFor(tasks[0]!.id, (t) => t.status === 'PROCESSING' && t.providerTaskId !== null);
      expect((await store.get(tasks[2]!.id)).status).toBe('QUEUED');
      expect((await store.get(tasks[3]!.id)).status).toBe('QUEUED');
      // Cancelling a running one frees a slot for the oldest queued task.
      const out = await cancelTask(store.database.db, ProviderRegistry.of([]), log, tasks[0]!.id, 'tester');
      expect(out.ok).toBe(true);
      await store.waitFor(tasks[2]!.id, (t) => t.status === 'PROCESSING');
      expect((await store.get(tasks[3]!.id)).status).toBe('QUEUED');
      await expect.poll(() => p.cancels).toContain(first.providerTaskId);
    });

    it('two runners never claim the same task', async () => {
      const a = new FakeProvider();
      const b = new FakeProvider();
      for (const p of [a, b]) p.pollScript = [{ state: 'processing', progress: 0.1 }];
      const tasks = [];
      for (let i = 0; i < 6; i++) tasks.push(await store.addTask());
      const opts = { owner: '', leaseMs: 5000, limit: 10, providers: [{ id: 'fake', maxConcurrency: 4 }] };
      const [x, y] = await Promise.all([claimDueTasks(store.database.db, { ...opts, owner: 'r1' }), claimDueTasks(store.database.db, { ...opts, owner: 'r2' })]);
      const ids = [...x, ...y].map((t) => t.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(4);
      expect(x.map((t) => t.id).concat(y.map((t) => t.id)).sort()).toEqual(tasks.slice(0, 4).map((t) => t.id).sort());
    });

    it('a second runner resumes a task whose runner died, polling the same upstream id', async () => {
      const p = new FakeProvider();
      p.pollScript = [{ state: 'processing', progress: 0.3 }];
      const task = await store.addTask();
      // A runner that claims and submits, then "dies": its lease lapses without release.
      const [claimed] = await claimDueTasks(store.database.db, { owner: 'dead-runner', leaseMs: 600, limit: 1, providers: [{ id: 'fake', maxConcurrency: 4 }] });
      expect(claimed!.id).toBe(task.id);
      const { recordSubmitted } = await import('../../src/runner/transitions.js');
      await recordSubmitted(store.database.db, task.id, 'dead-runner', 'fake', 'up-77');
      p.pollScript = [fileResult(dir)];
      startRunner(p, {}, 5000);
      const done = await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(done.providerTaskId).toBe('up-77');
      expect(p.submits).toHaveLength(0);
      expect(p.polls).toContain('up-77');
    });

    it('does not resubmit a task whose earlier submission was interrupted', async () => {
      const p = new FakeProvider();
      const task = await store.addTask();
      const { recordSubmitAttempt } = await import('../../src/runner/transitions.js');
      await claimDueTasks(store.database.db, { owner: 'dead-runner', leaseMs: 300, limit: 1, providers: [{ id: 'fake', maxConcurrency: 4 }] });
      await recordSubmitAttempt(store.database.db, task.id, 'dead-runner', 1);
      startRunner(p);
      const failed = await store.waitFor(task.id, (t) => t.status === 'FAILED');
      expect(failed.errorCode).toBe('UPSTREAM_UNCERTAIN');
      expect(p.submits).toHaveLength(0);
    });

    it('hands tasks back on shutdown so another runner finishes them', async () => {
      const p = new FakeProvider();
      p.pollScript = [{ state: 'processing', progress: 0.4 }];
      const r1 = startRunner(p);
      const task = await store.addTask();
      await store.waitFor(task.id, (t) => t.progress === 0.4);
      await r1.stop(2000);
      const released = await store.get(task.id);
      expect(released.leaseOwner).toBeNull();
      expect(released.status).toBe('PROCESSING');
      p.pollScript = [fileResult(dir)];
      startRunner(p);
      await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(p.submits).toHaveLength(1);
    });

    it('adopts the upstream task of an interrupted submission when the kind can list its tasks', async () => {
      const p = new FakeProvider();
      const seen: Array<{ since: Date; exclude: ReadonlySet<string> }> = [];
      p.findSubmitted = async (_req, opts) => {
        seen.push(opts);
        return 'up-listed';
      };
      p.pollScript = [fileResult(dir)];
      const { recordSubmitAttempt, transition } = await import('../../src/runner/transitions.js');
      const other = await store.addTask();
      await transition(store.database.db, other.id, { status: 'FAILED', providerTaskId: 'up-other' });
      const task = await store.addTask();
      await claimDueTasks(store.database.db, { owner: 'dead-runner', leaseMs: 300, limit: 1, providers: [{ id: 'fake', maxConcurrency: 4 }] });
      await recordSubmitAttempt(store.database.db, task.id, 'dead-runner', 1);
      startRunner(p);
      const done = await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(done.providerTaskId).toBe('up-listed');
      expect(p.submits).toHaveLength(0);
      expect([...seen[0]!.exclude]).toContain('up-other');
      // Looked up among tasks created since the interrupted attempt was sent.
      expect(seen[0]!.since.getTime()).toBe(done.submittedAt!.getTime());
    });

    it('shutdown lets a submission on the wire finish instead of cutting it off', async () => {
      const p = new FakeProvider();
      p.submitScript = [{ delayMs: 800 }];
      p.pollScript = [{ state: 'processing', progress: 0.1 }];
      const r1 = startRunner(p);
      const task = await store.addTask();
      await store.waitFor(task.id, (t) => t.attempts === 1);
      await r1.stop(5000);
      const after = await store.get(task.id);
      expect(after).toMatchObject({ status: 'PROCESSING', providerTaskId: 'up-1', leaseOwner: null });
      p.pollScript = [fileResult(dir)];
      startRunner(p);
      await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(p.submits).toHaveLength(1);
    });

    it('a cancel during a submission lets it answer, then cancels the upstream task', async () => {
      const p = new FakeProvider();
      p.submitScript = [{ delayMs: 600 }];
      startRunner(p);
      const task = await store.addTask();
      await store.waitFor(task.id, (t) => t.attempts === 1);
      const out = await cancelTask(store.database.db, ProviderRegistry.of([]), log, task.id, 'tester');
      expect(out).toMatchObject({ ok: true, task: { status: 'CANCELLED' } });
      await expect.poll(() => p.cancels, { timeout: 5000 }).toEqual(['up-1']);
      expect((await store.get(task.id)).status).toBe('CANCELLED');
    });

    it('terminal states never change again', async () => {
      const p = new FakeProvider();
      p.pollScript = [fileResult(dir)];
      startRunner(p);
      const task = await store.addTask();
      await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      const out = await cancelTask(store.database.db, ProviderRegistry.of([]), log, task.id, 'tester');
      expect(out).toMatchObject({ ok: false, reason: 'finished' });
      expect((await store.get(task.id)).status).toBe('COMPLETED');
    });

    it('falls back to the next provider after refused submissions, recorded in the events', async () => {
      const a = new FakeProvider('fake');
      const b = new FakeProvider('backup');
      const refusal = () => new UpstreamError({ code: 'UPSTREAM_UNAVAILABLE', message: 'Failed to connect to video generation service', status: 503, retryable: true, maybeCreated: false });
      a.submitScript = [refusal(), refusal()];
      b.pollScript = [fileResult(dir)];
      const runner = startRunner(a, { fallback: ['backup'], pollIntervalMs: 20 }, 5000, 2, [b]);
      const task = await store.addTask();
      const done = await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(done.providerId).toBe('backup');
      expect(done.triedProviders).toEqual(['fake']);
      expect(a.submits).toHaveLength(2);
      expect(b.submits).toHaveLength(1);
      const events = await getEventsForTasks(store.database.db, [task.id]);
      expect(events.some((e) => e.message?.startsWith('moved from fake to backup'))).toBe(true);
      // Two transient failures in a row made the first provider unhealthy.
      expect(runner.health.get('fake').healthy).toBe(false);
    });

    it('never falls back once an upstream task may exist, nor to a provider lacking a capability', async () => {
      const a = new FakeProvider('fake');
      const b = new FakeProvider('backup');
      b.capabilities = { ...b.capabilities, imageToVideo: false };
      a.submitScript = [new UpstreamError({ code: 'UPSTREAM_TIMEOUT', message: 'no answer', retryable: true, maybeCreated: true })];
      startRunner(a, { fallback: ['backup'] }, 5000, 2, [b]);
      const t1 = await store.addTask();
      expect((await store.waitFor(t1.id, (t) => t.status === 'FAILED')).errorCode).toBe('UPSTREAM_UNCERTAIN');
      const refusal = () => new UpstreamError({ code: 'UPSTREAM_UNAVAILABLE', message: 'down', status: 503, retryable: true, maybeCreated: false });
      a.submitScript = [refusal(), refusal()];
      const t2 = await store.addTask({ inputImage: { kind: 'url', url: 'https://example.com/a.png' } });
      const failed = await store.waitFor(t2.id, (t) => t.status === 'FAILED');
      expect(failed.providerId).toBe('fake');
      expect(b.submits).toHaveLength(0);
    });

    it('an unhealthy provider sends new tasks to its fallback before submitting', async () => {
      const a = new FakeProvider('fake');
      const b = new FakeProvider('backup');
      b.pollScript = [fileResult(dir)];
      const runner = startRunner(a, { fallback: ['backup'] }, 5000, 3, [b]);
      await runner.health.recordOutcome('fake', false, 'connection refused');
      await runner.health.recordOutcome('fake', false, 'connection refused');
      const task = await store.addTask();
      const done = await store.waitFor(task.id, (t) => t.status === 'COMPLETED');
      expect(done.providerId).toBe('backup');
      expect(a.submits).toHaveLength(0);
    });

    it('requestsPerMinute holds across two runners', async () => {
      const a = new FakeProvider();
      const b = new FakeProvider();
      for (const p of [a, b]) p.pollScript = [{ state: 'processing', progress: 0.1 }];
      // 6 per minute: a bucket of one request, refilled every 10 s.
      startRunner(a, { requestsPerMinute: 6 });
      startRunner(b, { requestsPerMinute: 6 });
      const tasks = [await store.addTask(), await store.addTask(), await store.addTask()];
      await expect.poll(() => a.submits.length + b.submits.length).toBe(1);
      // Both runners hold tasks, yet no second request goes out within the window.
      await new Promise((r) => setTimeout(r, 1500));
      expect(a.submits.length + b.submits.length + a.polls.length + b.polls.length).toBe(1);
      expect((await Promise.all(tasks.map((t) => store.get(t.id)))).filter((t) => t.status === 'PROCESSING').length).toBe(3);
    });

    it('requestsPerMinute is one shared token bucket', async () => {
      // 60 per minute: a bucket of 6, refilled at one per second.
      const grants = [];
      for (let i = 0; i < 8; i++) grants.push(await takeToken(store.database.db, 'limited', 60));
      expect(grants.slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0]);
      expect(grants[6]).toBeGreaterThan(0);
      expect(grants[6]).toBeLessThanOrEqual(1000);
    });
  });
}
