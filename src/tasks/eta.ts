// How long an active task has left: pure arithmetic over the median run time of
// its provider and model (recent COMPLETED tasks), its place in the queue, the
// provider's busy slots and the progress the upstream reports. No I/O: the
// numbers come from src/tasks/eta-history.ts and the task row.

/** Share of the median a task that has outrun the median is still given: it is not done, so never 0. */
export const OVERDUE_SHARE = 0.1;

/** The median of `values` (null when empty). */
export function median(values: readonly number[]): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Seconds left for a PROCESSING task that has run `elapsed` seconds.
 *
 * From history alone: median − elapsed, but at least OVERDUE_SHARE × median
 * (a task past the median is late, not finished). With upstream progress p in
 * (0, 1): the rate so far says elapsed·(1−p)/p; the two are blended with weight
 * p on the progress side, so an early, noisy percentage barely moves the
 * estimate and a late one decides it. Never negative.
 */
export function processingRemaining(medianSeconds: number, elapsedSeconds: number, progress: number | null): number {
  const m = Math.max(0, medianSeconds);
  const e = Math.max(0, elapsedSeconds);
  const byHistory = Math.max(m - e, OVERDUE_SHARE * m);
  if (progress === null || !(progress > 0 && progress < 1) || e === 0) return byHistory;
  // p·(e(1−p)/p) + (1−p)·byHistory, written without the division (finite for any p).
  return (1 - progress) * (e + byHistory);
}

/**
 * Seconds left for a QUEUED task at 1-based `position` of its provider's queue,
 * which runs `concurrency` tasks at once; `busy` holds the seconds left of the
 * tasks running there now (processingRemaining of each).
 *
 * Each of the provider's slots frees when its task ends (a free slot: now); the
 * queue takes slots in the order they free, and every task it starts holds its
 * slot for a median. So the task at `position` starts in wave
 * floor((position−1) / concurrency), on the slot that frees
 * ((position−1) mod concurrency)-th, and ends a median after that. With every
 * slot free this is ceil(ahead / concurrency)-ish waves of medians plus its own
 * run; with every slot just taken, ceil(position / concurrency) waves plus its own.
 */
export function queuedRemaining(medianSeconds: number, position: number, concurrency: number, busy: readonly number[]): number {
  return queuedRemainingOn(medianSeconds, position, freeingSlots(concurrency, busy));
}

/**
 * When each of a provider's `concurrency` slots frees, soonest first (0: free
 * now), from the seconds left of the tasks running there (`busy`): what
 * queuedRemaining needs of them, shared by every queued task of that provider.
 */
export function freeingSlots(concurrency: number, busy: readonly number[]): readonly number[] {
  const c = Math.max(1, Math.floor(concurrency));
  // With more tasks running than slots (the limit was lowered), only the last c to end free a slot for the queue.
  const taken = busy.map((s) => Math.max(0, s)).sort((a, b) => a - b).slice(-c);
  return [...new Array<number>(c - taken.length).fill(0), ...taken];
}

/** queuedRemaining with the slots already worked out (freeingSlots). */
export function queuedRemainingOn(medianSeconds: number, position: number, slots: readonly number[]): number {
  const m = Math.max(0, medianSeconds);
  const c = slots.length;
  const p = Math.max(1, Math.floor(position));
  const start = slots[(p - 1) % c]! + Math.floor((p - 1) / c) * m;
  return start + m;
}

export interface Estimate {
  /** Seconds until the task is expected to finish. */
  seconds: number;
  at: Date;
}

export function estimateAt(now: number, seconds: number): Estimate {
  return { seconds, at: new Date(now + Math.round(seconds * 1000)) };
}
