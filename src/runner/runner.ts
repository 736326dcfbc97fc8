// The background worker: claims due tasks, works each one until it ends while
// renewing its lease, and hands everything back on shutdown. Any number of
// runners may share one Postgres.
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Db } from '../db/client.js';
import { getTasksByIds } from '../db/read-tasks.js';
import { TERMINAL_STATUSES, type TaskRow } from '../db/schema.js';
import type { TaskEvents } from '../events/bus.js';
import { TaskFeed, type FeedWatcher } from '../events/task-feed.js';
import type { Logger } from '../logger.js';
import type { HealthMonitor } from '../providers/health.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { renewLeases } from '../db/renew-leases.js';
import { claimDueTasks } from './claim.js';
import { DEFAULT_MAX_IMAGE_PIXELS } from '../media/image.js';
import { DEFAULT_MAX_RESULT_BYTES } from '../storage/results.js';
import { ProgressWriter } from './progress-writer.js';
import { ReleaseBatch } from './release-batch.js';
import { Slots } from '../slots.js';
import type { FileUrlSigning } from '../storage/signed-urls.js';
import { TurnGate } from './turn-gate.js';
import { TransitionBatches } from './write-batches.js';
import { runTask, TaskAbort } from './work.js';
import { RetentionSweeper, type RetentionOptions, type SweepReport } from './retention.js';

export interface RunnerOptions {
  db: Db;
  events: TaskEvents;
  registry: ProviderRegistry;
  health: HealthMonitor;
  /** The process's shared task feed; the runner makes its own when omitted. */
  feed?: TaskFeed;
  filesDir: string;
  publicUrl?: string;
  /** REELAY_FILE_URL_TTL_SECONDS + REELAY_FILE_URL_SECRET: the links upstreams get are signed. */
  fileUrls?: FileUrlSigning;
  log: Logger;
  leaseMs: number;
  concurrency: number;
  maxAttempts: number;
  /** REELAY_MAX_RESULT_BYTES; 2 GiB when omitted. */
  maxResultBytes?: number;
  /** REELAY_MAX_IMAGE_PIXELS, for checking image results; 40 MP when omitted. */
  maxImagePixels?: number;
  /** Fallback tick when nothing wakes the runner (lapsed leases, retries). */
  idleMs?: number;
  /** Results downloaded and probed at once (all providers); 32 when omitted. */
  finishConcurrency?: number;
  /** Retention windows and the sweep interval; no sweeps when omitted. */
  retention?: RetentionOptions;
}

/**
 * Polls and submissions started in one turn of the event loop, at most (turn-gate.ts):
 * about 5 ms of work, and more than 1,000 a second even when each turn is long.
 */
const STARTS_PER_TURN = 50;

/** Tasks taken in one claim transaction; a runner with more room claims again at once. */
const CLAIM_BATCH = 500;

interface InFlight {
  ctrl: AbortController;
  done: Promise<void>;
  /** The newest version of the row seen: rows at or below it are old news (e.g. loaded before the claim). */
  version: number;
}

export class Runner {
  readonly id = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly inflight = new Map<string, InFlight>();
  private readonly drain = new AbortController();
  private running = false;
  private wake?: () => void;
  private loopDone?: Promise<void>;
  private heartbeat?: NodeJS.Timeout;
  private unsubscribe: Array<() => void> = [];
  private ownFeed?: TaskFeed;
  private watcher?: FeedWatcher;
  private readonly progress: ProgressWriter;
  private readonly finishSlots: Slots;
  private readonly turns = new TurnGate(STARTS_PER_TURN);
  private readonly releases: ReleaseBatch;
  private readonly batches: TransitionBatches;
  private readonly retention: RetentionSweeper;

  constructor(private readonly opts: RunnerOptions) {
    this.progress = new ProgressWriter(opts.db, this.id, opts.log);
    this.finishSlots = new Slots(opts.finishConcurrency ?? 32);
    this.batches = new TransitionBatches(opts.db, this.id, (fn) => this.progress.exclusive(fn, { urgent: true }));
    this.releases = new ReleaseBatch(opts.db, this.id, opts.log, (fn) => this.progress.exclusive(fn, { urgent: true }));
    this.retention = new RetentionSweeper(opts.db, opts.filesDir, opts.retention ?? { intervalMs: 300_000 }, opts.log);
  }

  /** One retention sweep now (it also runs on its own every REELAY_RETENTION_INTERVAL_MS while the runner runs). */
  sweepRetention(): Promise<SweepReport> {
    return this.retention.sweepNow();
  }

  get activeTaskIds(): string[] {
    return [...this.inflight.keys()];
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe.push(this.opts.events.onWake(() => this.kick()));
    // Changes to held tasks (a client's cancel, a takeover) arrive as rows from
    // the shared feed: one load per batch of changes, not one query per event.
    // The progress this runner writes of its tasks changes nothing it reacts to
    // (status, lease): such changes load no rows for it.
    const feed = this.opts.feed ?? (this.ownFeed = new TaskFeed(this.opts.events, (ids) => getTasksByIds(this.opts.db, ids), this.opts.log));
    this.watcher = feed.watch((id) => this.inflight.has(id), { progress: false });
    void this.watchHeld(this.watcher);
    this.heartbeat = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.opts.leaseMs / 3)));
    this.loopDone = this.loop();
    this.retention.start();
  }

  /** Claim now instead of at the next tick. */
  kick(): void {
    this.wake?.();
  }

  /**
   * Stop claiming and hand back every held task: waits and polls stop at once,
   * submissions on the wire get up to `timeoutMs` to answer, then everything is aborted.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    const retention = this.retention.stop();
    this.unsubscribe.splice(0).forEach((u) => u());
    this.watcher?.close();
    this.ownFeed?.close();
    this.kick();
    await this.loopDone;
    const settled = () => Promise.allSettled([...this.inflight.values()].map((f) => f.done));
    const within = (ms: number) => Promise.race([settled(), new Promise((r) => setTimeout(r, ms).unref())]);
    this.drain.abort(new TaskAbort('shutdown'));
    await within(timeoutMs);
    for (const f of this.inflight.values()) f.ctrl.abort(new TaskAbort('shutdown'));
    await within(2000);
    clearInterval(this.heartbeat);
    await retention;
  }

  private async loop(): Promise<void> {
    const idleMs = this.opts.idleMs ?? 1000;
    while (this.running) {
      let full = false;
      try {
        full = await this.claimOnce();
      } catch (err) {
        this.opts.log.error({ err }, 'claiming tasks failed');
      }
      if (!this.running) break;
      if (full) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, idleMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Returns true when it claimed as many as it asked for (there may be more). */
  private async claimOnce(): Promise<boolean> {
    const limit = Math.min(CLAIM_BATCH, this.opts.concurrency - this.inflight.size);
    if (limit <= 0) return false;
    const providers = this.opts.registry.list().map((e) => ({ id: e.config.id, maxConcurrency: e.config.maxConcurrency }));
    const claimed = await claimDueTasks(this.opts.db, { owner: this.id, leaseMs: this.opts.leaseMs, limit, providers });
    for (const task of claimed) this.work(task);
    return claimed.length === limit;
  }

  private work(task: TaskRow): void {
    // A claim can hand back a task this runner still works on: its lease lapsed (a stalled event
    // loop, a slow database) before the heartbeat renewed it, and the orphan search found it. The
    // claim renewed the lease; the worker already on it carries on. A second one would submit again.
    const running = this.inflight.get(task.id);
    if (running) {
      running.version = Math.max(running.version, task.version);
      return;
    }
    const entry = this.opts.registry.get(task.providerId);
    if (!entry) return;
    const ctrl = new AbortController();
    const log = this.opts.log.child({ taskId: task.id, provider: entry.config.id });
    const done = runTask(task, {
      db: this.opts.db,
      owner: this.id,
      entry,
      registry: this.opts.registry,
      health: this.opts.health,
      filesDir: this.opts.filesDir,
      publicUrl: this.opts.publicUrl,
      fileUrls: this.opts.fileUrls,
      maxAttempts: this.opts.maxAttempts,
      maxResultBytes: this.opts.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES,
      maxImagePixels: this.opts.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS,
      signal: ctrl.signal,
      drain: this.drain.signal,
      progress: this.progress,
      batches: this.batches,
      finishSlots: this.finishSlots,
      turns: this.turns,
      release: (id) => this.releases.release(id),
      log,
    })
      .catch((err) => log.error({ err }, 'task worker crashed'))
      .finally(() => {
        this.inflight.delete(task.id);
        this.kick();
      });
    this.inflight.set(task.id, { ctrl, done, version: task.version });
  }

  private async watchHeld(watcher: FeedWatcher): Promise<void> {
    for await (const batch of watcher) {
      for (const row of batch.rows.values()) this.react(row);
      // Notifications may have been missed while reconnecting: look at every held task.
      if (batch.resync) {
        void this.checkHeld(this.activeTaskIds);
        this.kick();
      }
    }
  }

  /** A held task changed elsewhere (e.g. cancelled by a client): stop working on it. */
  private react(row: Pick<TaskRow, 'id' | 'status' | 'leaseOwner' | 'version'>): void {
    const f = this.inflight.get(row.id);
    if (!f || row.version <= f.version) return;
    f.version = row.version;
    if (row.status === 'CANCELLED') f.ctrl.abort(new TaskAbort('cancelled'));
    else if (TERMINAL_STATUSES.includes(row.status) || (row.leaseOwner && row.leaseOwner !== this.id)) f.ctrl.abort(new TaskAbort('lease-lost'));
  }

  private async checkHeld(ids: string[]): Promise<void> {
    if (!ids.length) return;
    try {
      for (const row of await getTasksByIds(this.opts.db, ids)) this.react(row);
    } catch (err) {
      this.opts.log.warn({ err }, 'could not check held tasks');
    }
  }

  private async renew(): Promise<void> {
    const ids = this.activeTaskIds;
    if (!ids.length) return;
    try {
      // Urgent: a renewal stuck behind other writes would let every held lease lapse.
      const kept = await this.progress.exclusive(() => renewLeases(this.opts.db, this.id, ids, this.opts.leaseMs), { urgent: true });
      await this.checkHeld(ids.filter((id) => !kept.has(id) && this.inflight.has(id)));
    } catch (err) {
      this.opts.log.warn({ err }, 'lease heartbeat failed');
    }
  }
}
