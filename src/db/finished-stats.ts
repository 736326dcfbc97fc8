// The `stats` figures of finished tasks: run-time and queue-wait percentiles
// (from the history's histograms, src/db/histogram.ts) and costs per currency,
// in total and per provider, and the series of UTC hours or days for charts.
import { roundAmount, type Money } from '../money.js';
import type { DbOrTx } from './client.js';
import { addHistogram, quantileSeconds, type Histogram } from './histogram.js';
import { readFinishedSeries, readFinishedTotals, type FinishedGroup, type SeriesSource, type SeriesSpan } from './read-history.js';
import type { TaskFilter } from './task-filter.js';

export interface FinishedStats {
  p50DurationSeconds: number | null;
  p95DurationSeconds: number | null;
  p50QueueSeconds: number | null;
  /** One entry per currency, by currency code. */
  cost: Money[];
  costByProvider: Map<string, Money[]>;
}

export interface StatsBucket {
  start: Date;
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
  successRate: number | null;
  p50DurationSeconds: number | null;
  cost: Money[];
}

export const SERIES_LIMITS: Record<SeriesSpan, number> = { hour: 168, day: 90 };
const SPAN_MS: Record<SeriesSpan, number> = { hour: 3_600_000, day: 86_400_000 };

/** Costs of groups per currency ('' is "not priced" and left out), to a millionth. */
function costs(groups: readonly FinishedGroup[]): Money[] {
  const by = new Map<string, number>();
  for (const g of groups) if (g.currency) by.set(g.currency, (by.get(g.currency) ?? 0) + g.cost);
  return [...by.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([currency, amount]) => ({ currency, amount: roundAmount(amount) }));
}

function groupBy<K>(groups: readonly FinishedGroup[], key: (g: FinishedGroup) => K): Map<K, FinishedGroup[]> {
  const by = new Map<K, FinishedGroup[]>();
  for (const g of groups) {
    const k = key(g);
    const list = by.get(k);
    if (list) list.push(g);
    else by.set(k, [g]);
  }
  return by;
}

function runHistogram(groups: readonly FinishedGroup[]): Histogram {
  const h: Histogram = [];
  for (const g of groups) if (g.status === 'COMPLETED') addHistogram(h, g.runHist);
  return h;
}

export function summarizeFinished(groups: readonly FinishedGroup[]): FinishedStats {
  const run = runHistogram(groups);
  const queue: Histogram = [];
  for (const g of groups) addHistogram(queue, g.queueHist);
  const byProvider = groupBy(groups, (g) => g.providerId);
  return {
    p50DurationSeconds: quantileSeconds(run, 0.5),
    p95DurationSeconds: quantileSeconds(run, 0.95),
    p50QueueSeconds: quantileSeconds(queue, 0.5),
    cost: costs(groups),
    costByProvider: new Map([...byProvider].map(([p, gs]) => [p, costs(gs)])),
  };
}

/** Percentiles and costs of `owner`'s (null: every owner's) finished tasks matching the filter. */
export async function getFinishedStats(db: DbOrTx, owner: string | null, filter?: TaskFilter): Promise<FinishedStats> {
  return summarizeFinished(await readFinishedTotals(db, owner, filter));
}

/** The first of the `last` periods ending with the current one (UTC). */
export function seriesStart(span: SeriesSpan, last: number, now: Date): Date {
  const current = Math.floor(now.getTime() / SPAN_MS[span]) * SPAN_MS[span];
  return new Date(current - (last - 1) * SPAN_MS[span]);
}

/**
 * The last `last` UTC hours or days (oldest first, the current one last, every
 * period present), counting tasks by when they finished.
 */
export async function getStatsSeries(db: DbOrTx, owner: string | null, filter: TaskFilter, span: SeriesSpan, last: number, now = new Date(), source: SeriesSource = 'auto'): Promise<StatsBucket[]> {
  const from = seriesStart(span, last, now);
  const groups = await readFinishedSeries(db, owner, filter, span, from, source);
  const byStart = groupBy(groups, (g) => g.start);
  return Array.from({ length: last }, (_, i) => {
    const start = from.getTime() + i * SPAN_MS[span];
    const gs = byStart.get(start) ?? [];
    const count = (status: string) => gs.filter((g) => g.status === status).reduce((n, g) => n + g.tasks, 0);
    const completed = count('COMPLETED');
    const failed = count('FAILED');
    return {
      start: new Date(start),
      total: gs.reduce((n, g) => n + g.tasks, 0),
      completed,
      failed,
      cancelled: count('CANCELLED'),
      successRate: completed + failed > 0 ? completed / (completed + failed) : null,
      p50DurationSeconds: quantileSeconds(runHistogram(gs), 0.5),
      cost: costs(gs),
    };
  });
}
