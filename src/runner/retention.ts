// The retention sweep: every few minutes (with a jitter, so runners started
// together do not sweep in step), finished tasks past REELAY_RETENTION_DAYS are
// deleted with their events, idempotency keys and files, and the stored files
// of those past REELAY_FILE_RETENTION_DAYS are removed (the rows stay). Work
// goes in batches of BATCH rows, each batch's statement short and skipping rows
// another runner's sweep holds, so any number of runners may sweep at once.
//
// Files go first, then the row is deleted or marked: a crash in between leaves
// a row without files that the next sweep finds again (removing files that are
// gone already is a no-op), never files without a row.
import type { Db } from '../db/client.js';
import { deleteExpiredTasks, findExpiredTasks } from '../db/delete-expired-tasks.js';
import { findTasksWithExpiredFiles, markFilesExpired } from '../db/expire-result-files.js';
import type { Logger } from '../logger.js';
import { removeTaskFiles } from '../storage/results.js';

const DAY_MS = 86_400_000;
/** Rows per statement: short locks, bounded memory. */
const BATCH = 500;
/** Task directories removed at once. */
const REMOVE_CONCURRENCY = 8;

export interface RetentionOptions {
  /** REELAY_RETENTION_DAYS: delete finished tasks completed longer ago (unset: keep forever). */
  taskDays?: number;
  /** REELAY_FILE_RETENTION_DAYS: remove the files of finished tasks completed longer ago (unset: keep). */
  fileDays?: number;
  /** REELAY_RETENTION_INTERVAL_MS: time between sweeps (each waits up to a further 10% at random). */
  intervalMs: number;
}

export interface SweepReport {
  /** Tasks deleted. */
  tasks: number;
  /** Tasks whose files were removed (their rows stay). */
  files: number;
}

async function removeAll(filesDir: string, ids: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < ids.length) await removeTaskFiles(filesDir, ids[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(REMOVE_CONCURRENCY, ids.length) }, worker));
}

/**
 * Batches until none is left: find up to BATCH ids, remove their files, then
 * `apply` the row change (which returns the ids it changed). Files go first, so
 * a crash in between leaves a row without files, never files without a row.
 * A short batch was the last; one that changed nothing means another runner's
 * sweep holds those rows.
 */
async function sweepBatches(filesDir: string, find: () => Promise<string[]>, apply: (ids: string[]) => Promise<unknown[]>, stopped: () => boolean): Promise<number> {
  let changed = 0;
  while (!stopped()) {
    const ids = await find();
    await removeAll(filesDir, ids);
    const n = (await apply(ids)).length;
    changed += n;
    if (ids.length < BATCH || n === 0) break;
  }
  return changed;
}

/** One full sweep (every batch due now); `stopped` ends it between batches. */
export async function sweepRetention(db: Db, filesDir: string, opts: Omit<RetentionOptions, 'intervalMs'>, stopped: () => boolean = () => false): Promise<SweepReport> {
  const report: SweepReport = { tasks: 0, files: 0 };
  if (opts.taskDays !== undefined) {
    const olderThanMs = opts.taskDays * DAY_MS;
    report.tasks = await sweepBatches(filesDir, () => findExpiredTasks(db, olderThanMs, BATCH), (ids) => deleteExpiredTasks(db, ids, olderThanMs), stopped);
  }
  // Past task retention everything is gone already: file retention only matters for a shorter window.
  if (opts.fileDays !== undefined && (opts.taskDays === undefined || opts.fileDays < opts.taskDays) && !stopped()) {
    const olderThanMs = opts.fileDays * DAY_MS;
    report.files = await sweepBatches(filesDir, () => findTasksWithExpiredFiles(db, olderThanMs, BATCH), (ids) => markFilesExpired(db, ids), stopped);
  }
  return report;
}

/** Sweeps on a timer until stopped; sweepNow() runs one at once (tests, operators). */
export class RetentionSweeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<SweepReport>;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly filesDir: string,
    private readonly opts: RetentionOptions,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.opts.taskDays !== undefined || this.opts.fileDays !== undefined;
  }

  start(): void {
    if (!this.enabled) return;
    this.stopped = false;
    // The first sweep comes sooner (10-20% of the interval), so that frequent restarts do not postpone it forever.
    this.schedule(0.1);
  }

  /** One sweep now (after the one in progress, if any); resolves with what it removed. */
  async sweepNow(): Promise<SweepReport> {
    while (this.running) await this.running.catch(() => {});
    const run = sweepRetention(this.db, this.filesDir, this.opts, () => this.stopped);
    this.running = run;
    try {
      const report = await run;
      if (report.tasks || report.files) this.log.info({ tasks: report.tasks, files: report.files }, 'retention removed finished tasks and files');
      return report;
    } finally {
      if (this.running === run) this.running = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
  }

  private schedule(share = 1): void {
    const delay = this.opts.intervalMs * (share + Math.random() * 0.1);
    this.timer = setTimeout(() => {
      void this.sweepNow()
        .catch((err: unknown) => {
          if (!this.stopped) this.log.warn({ err }, 'retention sweep failed; the next one tries again');
        })
        .finally(() => {
          if (!this.stopped) this.schedule();
        });
    }, delay).unref();
  }
}
