// A runner that scales with jobs: one process holds more jobs than the old
// limits allowed, progress and leases are written in batches (a few statements
// per tick, not per task), and API queries do not wait behind runner work.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/client.js';
import { taskEvents, tasks } from '../../src/db/schema.js';
import { TaskEvents } from '../../src/events/bus.js';
import { createLogger } from '../../src/logger.js';
import { HealthMonitor } from '../../src/providers/health.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { Runner } from '../../src/runner/runner.js';
import type { Snapshot } from '../../src/providers/types.js';
import { fakeMp4, SAMPLE_VIDEO } from '../emulators/media.js';
import { FakeProvider, fakeConfig } from '../support/fake-provider.js';
import { createTempDatabase, databaseKinds, type TempDatabase } from '../support/postgres.js';

const log = createLogger('silent');
const kinds = await databaseKinds();

/** Progress that changes on every poll (so every poll has something to record). */
class Advancing extends FakeProvider {
  private n = new Map<string, number>();
  override async poll(id: string): Promise<{ state: 'processing'; progress: number }> {
    this.polls.push(id);
    const k = (this.n.get(id) ?? 0) + 1;
    this.n.set(id, k);
    return { state: 'processing', progress: Math.min(0.99, k / 1000) };
  }
}

/** Every task is finished at its first poll, with a real MP4 of its own. */
class Finishing extends FakeProvider {
  constructor(private readonly dir: string) {
    super();
  }
  override async poll(id: string): Promise<Snapshot> {
    this.polls.push(id);
    const file = path.join(this.dir, `upstream-${id}.mp4`);
    fs.writeFileSync(file, fakeMp4(id));
    return { state: 'completed', result: { source: { kind: 'file', path: file }, mediaType: 'VIDEO' } };
  }
}

describe.each(kinds)('a runner at scale on %s', (kind) => {
  let temp: TempDatabase | undefined;
  let database: Database;
  let events: TaskEvents;
  let dir: string;
  const statements: string[] = [];
  const runners: Runner[] = [];

  beforeEach(async () => {
    temp = kind === 'postgres' ? await createTempDatabase() : undefined;
    statements.length = 0;
    database = await openDatabase({ databaseUrl: temp?.url, logger: { logQuery: (q) => void statements.push(q) } });
    events = new TaskEvents(database);
    await events.start();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-scale-'));
  });
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop(2000)));
    await events.close();
    await database.close();
    await temp?.drop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function startRunner(provider: FakeProvider, opts: { maxConcurrency: number; concurrency: number; pollIntervalMs?: number; leaseMs?: number }) {
    const registry = ProviderRegistry.of([{ config: fakeConfig(provider.id, { maxConcurrency: opts.maxConcurrency, pollIntervalMs: opts.pollIntervalMs ?? 200 }), provider }]);
    const health = new HealthMonitor(registry, database.workDb, log);
    const runner = new Runner({ db: database.workDb, events, registry, health, filesDir: dir, log, leaseMs: opts.leaseMs ?? 30_000, concurrency: opts.concurrency, maxAttempts: 3, idleMs: 100 });
    runner.start();
    runners.push(runner);
    return runner;
  }

  async function seed(n: number): Promise<void> {
    await database.db.execute(sql`insert into ${tasks} (owner, provider_id, prompt) select 'tester', 'fake', 'job ' || g from generate_series(1, ${n}::int) g`);
  }

  async function inFlight(): Promise<number> {
    const [row] = await database.db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(sql`${tasks.status} = 'PROCESSING' and ${tasks.providerTaskId} is not null`);
    return Number(row!.n);
  }

  it('keeps more jobs in flight than the old limits (1,000) allowed, and the config accepts 10,000', async () => {
    const config = loadConfig({ REELAY_RUNNER_CONCURRENCY: '10000' }, [], os.tmpdir());
    expect(config.runnerConcurrency).toBe(10_000);
    const p = new Advancing();
    await seed(1100);
    startRunner(p, { maxConcurrency: 1100, concurrency: 1100, pollIntervalMs: 2000 });
    // Seconds on a quiet machine; PGlite on a busy one needs more.
    await expect.poll(inFlight, { timeout: 150_000, interval: 250 }).toBe(1100);
    expect(p.submits).toHaveLength(1100);
  }, 180_000);

  it('records the progress of many polled tasks in a few batched writes', async () => {
    const p = new Advancing();
    await seed(60);
    startRunner(p, { maxConcurrency: 60, concurrency: 60, pollIntervalMs: 100 });
    await expect.poll(inFlight, { timeout: 20_000 }).toBe(60);
    // Wait until every task has been polled a few times.
    await expect.poll(() => new Set(p.polls).size === 60 && p.polls.length >= 60 * 4, { timeout: 20_000 }).toBe(true);
    const polls = p.polls.length;
    // One statement per batch (the update, its events and notifications in CTEs).
    const progressWrites = statements.filter((q) => /^with v as .*\bupdate "?tasks"? t set progress = v\.progress/is.test(q.trim())).length;
    expect(progressWrites).toBeGreaterThan(0);
    // Each write carried many polls' progress.
    expect(progressWrites).toBeLessThan(polls / 5);
    const [row] = await database.db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(sql`${tasks.progress} > 0`);
    expect(Number(row!.n)).toBe(60);
  }, 60_000);

  it('writes the submissions and completions of many tasks in a few batched statements', async () => {
    const p = new Finishing(dir);
    await seed(60);
    startRunner(p, { maxConcurrency: 60, concurrency: 60, pollIntervalMs: 100 });
    const completed = async () => Number((await database.db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(sql`${tasks.status} = 'COMPLETED'`))[0]!.n);
    await expect.poll(completed, { timeout: 30_000 }).toBe(60);
    const count = (re: RegExp) => statements.filter((q) => re.test(q.trim())).length;
    const attempts = count(/^update "?tasks"? t set attempts = v\.attempts/i);
    const accepted = count(/^update "?tasks"? t set provider_id = v\.provider_id/i);
    // One statement per batch of completions: the update within it (transitions.completeTasksSql).
    const completions = count(/^with v as \(.*\bupdate "?tasks"? t set status = 'COMPLETED'/is);
    for (const n of [attempts, accepted, completions]) {
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThan(20); // one per task would be 60
    }
    // Same rows and history as one transition at a time.
    const rows = await database.db.select().from(tasks);
    for (const r of rows) {
      expect(r).toMatchObject({ attempts: 1, progress: 1, leaseOwner: null, providerTaskId: expect.stringMatching(/^up-/) });
      expect(r.submittedAt).toBeInstanceOf(Date);
      expect(r.result).toMatchObject({ width: SAMPLE_VIDEO.width, height: SAMPLE_VIDEO.height, contentType: 'video/mp4' });
    }
    const history = await database.db.select({ message: taskEvents.message }).from(taskEvents);
    expect(history.filter((e) => /^accepted by fake as up-\d+$/.test(e.message ?? ''))).toHaveLength(60);
    expect(history.filter((e) => e.message === 'completed')).toHaveLength(60);
  }, 60_000);

  it('writes when each task is next due (next_poll_at) with its progress', async () => {
    const p = new Advancing();
    await seed(20);
    startRunner(p, { maxConcurrency: 20, concurrency: 20, pollIntervalMs: 3000 });
    await expect.poll(async () => Number((await database.db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(sql`${tasks.progress} > 0`))[0]!.n), { timeout: 20_000 }).toBe(20);
    const rows = await database.db.select({ next: tasks.nextPollAt, updated: tasks.updatedAt }).from(tasks);
    for (const r of rows) {
      // Due one interval after the poll that saw the progress, i.e. in the future, at most one interval after the write.
      const ahead = r.next.getTime() - r.updated.getTime();
      expect(ahead).toBeGreaterThan(1000);
      expect(ahead).toBeLessThanOrEqual(3000);
    }
  }, 60_000);

  it('renews every held lease with one statement per heartbeat', async () => {
    const p = new Advancing();
    await seed(40);
    const runner = startRunner(p, { maxConcurrency: 40, concurrency: 40, pollIntervalMs: 5000, leaseMs: 900 });
    await expect.poll(inFlight, { timeout: 20_000 }).toBe(40);
    const before = statements.length;
    // Several leases' worth of time: without renewal every lease would have lapsed.
    await new Promise((r) => setTimeout(r, 2500));
    const renewals = statements.slice(before).filter((q) => /^update "tasks" t set lease_expires_at/i.test(q.trim())).length;
    // A heartbeat every 300 ms, one statement each (not one per task).
    expect(renewals).toBeGreaterThanOrEqual(3);
    expect(renewals).toBeLessThanOrEqual(12);
    const rows = await database.db
      .select({ n: sql<number>`count(*)::int` })
      .from(tasks)
      .where(sql`${tasks.leaseOwner} = ${runner.id} and ${tasks.leaseExpiresAt} > now()`);
    expect(Number(rows[0]!.n)).toBe(40);
    expect(runner.activeTaskIds).toHaveLength(40);
  }, 60_000);

  it('hands every held task back on shutdown in a few statements', async () => {
    const p = new Advancing();
    await seed(300);
    const runner = startRunner(p, { maxConcurrency: 300, concurrency: 300, pollIntervalMs: 5000 });
    await expect.poll(inFlight, { timeout: 30_000 }).toBe(300);
    const before = statements.length;
    await runner.stop(5000);
    const releases = statements.slice(before).filter((q) => /^update "tasks" set "lease_owner" = \$1, "lease_expires_at" = \$2, "next_poll_at" = now\(\)/i.test(q.trim())).length;
    expect(releases).toBeGreaterThan(0);
    expect(releases).toBeLessThan(30); // not one per task
    const [row] = await database.db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(sql`${tasks.status} = 'PROCESSING' and ${tasks.leaseOwner} is null`);
    expect(Number(row!.n)).toBe(300);
  }, 60_000);

  it('serves API queries while background work keeps the database busy', async () => {
    // Background work queued first: each statement holds the database (PGlite) or a work connection (Postgres) for 50 ms.
    const order: string[] = [];
    const work = Array.from({ length: 20 }, (_, i) => database.workDb.execute(sql`select pg_sleep(0.05)`).then(() => order.push(`work ${i}`)));
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    await database.db.execute(sql`select 1`);
    const apiMs = performance.now() - t0;
    order.push('api');
    await Promise.all(work);
    // Behind all 20 it would come last, after a second of work; it comes among the first few
    // (on Postgres a first batch of work may finish while the API pool opens its connection).
    expect(order.indexOf('api')).toBeLessThan(10);
    expect(apiMs).toBeLessThan(500);
  });
});
