// The log-scale histograms of task_history (durations and queue waits), as the
// SQL of drizzle/0008_history.sql lays them out: bucket 1 holds [0, 100 ms),
// bucket k >= 2 holds [100 * 1.1^(k-2), 100 * 1.1^(k-1)) ms (1-based, as SQL
// arrays). A percentile is the geometric middle of the bucket holding its rank,
// so it is within 5 % of the exact value (within 50 ms below 100 ms).

const FIRST_MS = 100;
const RATIO = 1.1;

/** Counts per bucket, index 0 = bucket 1. */
export type Histogram = number[];

/** `{1,0,3}` (an SQL bigint[] as text) as numbers. */
export function parseHistogram(text: string | null | undefined): Histogram {
  if (!text || text.length <= 2) return [];
  return text.slice(1, -1).split(',').map(Number);
}

/** Adds `b` into `a` (grown as needed); returns `a`. */
export function addHistogram(a: Histogram, b: readonly number[]): Histogram {
  for (let i = 0; i < b.length; i++) a[i] = (a[i] ?? 0) + b[i]!;
  return a;
}

/** The bucket (0-based) of a value in ms, as hist_bucket in SQL minus one. */
export function bucketOf(ms: number): number {
  return ms < FIRST_MS ? 0 : Math.min(199, 1 + Math.floor(Math.log(ms / FIRST_MS) / Math.log(RATIO)));
}

/** The value a bucket stands for, in seconds: its geometric middle (the middle of [0, 100 ms) for the first). */
function middleSeconds(bucket: number): number {
  if (bucket === 0) return FIRST_MS / 2 / 1000;
  return (FIRST_MS * RATIO ** (bucket - 1) * Math.sqrt(RATIO)) / 1000;
}

/** The q-th quantile (0 < q <= 1) in seconds: the bucket holding the ceil(q × n)-th value; null when empty. */
export function quantileSeconds(h: readonly number[], q: number): number | null {
  const n = h.reduce((s, c) => s + c, 0);
  if (n <= 0) return null;
  const rank = Math.max(1, Math.ceil(q * n));
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i]!;
    if (seen >= rank) return Math.round(middleSeconds(i) * 1000) / 1000;
  }
  return middleSeconds(h.length - 1);
}
