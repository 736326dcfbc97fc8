// VideoTask.estimatedSecondsRemaining / estimatedCompletionAt: the task's own
// row plus the batched loaders (run times of its provider and model, its queue
// position, the tasks running at its provider) fed to the arithmetic of
// src/tasks/eta.ts. Both fields of one row share one estimate (one `now`).
import type { TaskRow } from '../db/schema.js';
import type { RunningTask } from '../db/list-running-tasks.js';
import { estimateAt, freeingSlots, processingRemaining, queuedRemainingOn, type Estimate } from '../tasks/eta.js';
import type { Context } from './context.js';

// Reads status, providerId, model, startedAt and progress of the row (keep task-columns.ts in step).
// Per row object, briefly: the two fields of one response share it, and a row
// object handed out again later (a subscription's) gets a fresh estimate.
const memo = new WeakMap<TaskRow, { until: number; value: Promise<Estimate | null> }>();
const SHARED_MS = 1000;

/** Null for a finished task, or while its provider and model have no COMPLETED task yet. */
export function taskEstimate(ctx: Context, row: TaskRow): Promise<Estimate | null> {
  if (row.status !== 'QUEUED' && row.status !== 'PROCESSING') return Promise.resolve(null);
  const now = Date.now();
  const found = memo.get(row);
  if (found && found.until > now) return found.value;
  const value = estimate(ctx, row);
  memo.set(row, { until: now + SHARED_MS, value });
  return value;
}

const elapsedSeconds = (now: number, at: Date | null) => (at ? Math.max(0, (now - at.getTime()) / 1000) : 0);

async function estimate(ctx: Context, row: TaskRow): Promise<Estimate | null> {
  const now = Date.now();
  const provider = row.status === 'QUEUED' ? ctx.services.registry.get(row.providerId) : undefined;
  // A queued row's loads start in the same tick as the run times: they join the batch that a
  // `queuePosition` selected next to the estimate opens, instead of opening a second one.
  const queue = provider ? Promise.all([ctx.loaders.queuePosition.load(row.id), ctx.loaders.runningTasks.load(row.providerId)]) : null;
  queue?.catch(() => {}); // not awaited when there is no history: its failure is not this field's
  const history = await ctx.loaders.runTimes.load({ providerId: row.providerId, model: row.model ?? null });
  if (!history) return null;
  const m = history.medianSeconds;
  if (row.status === 'PROCESSING') return estimateAt(now, processingRemaining(m, elapsedSeconds(now, row.startedAt), row.progress ?? null));
  if (!provider || !queue) return null; // not configured any more: it will not start here
  const [position, running] = await queue;
  if (position === null) return null; // started (or ended) since the row was read
  return estimateAt(now, queuedRemainingOn(m, position, slotsOf(running, m, now, provider.config.maxConcurrency)));
}

// The running tasks of a provider come as one array per batch, shared by its queued rows (a
// provider may run a thousand): their slots are worked out once per array, median and `now`.
const slotsMemo = new WeakMap<readonly RunningTask[], { m: number; now: number; c: number; slots: readonly number[] }>();

function slotsOf(running: readonly RunningTask[], m: number, now: number, concurrency: number): readonly number[] {
  const found = slotsMemo.get(running);
  if (found && found.m === m && found.now === now && found.c === concurrency) return found.slots;
  // Tasks running there are taken to last the same median as this one's model.
  const busy = running.map((r) => processingRemaining(m, elapsedSeconds(now, r.startedAt), r.progress));
  const slots = freeingSlots(concurrency, busy);
  slotsMemo.set(running, { m, now, c: concurrency, slots });
  return slots;
}
