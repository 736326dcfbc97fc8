// The arithmetic of the estimated time left (src/tasks/eta.ts) and the
// in-process cache of run times (src/tasks/eta-history.ts).
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { estimateAt, median, OVERDUE_SHARE, processingRemaining, queuedRemaining } from '../../src/tasks/eta.js';
import { RECENT_RUNS } from '../../src/db/recent-run-times.js';
import { recentRunTimes, RUN_TIMES_TTL_MS } from '../../src/tasks/eta-history.js';

describe('median', () => {
  it('of odd, even, empty', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNull();
  });
});

describe('processingRemaining', () => {
  it('without progress: the median less the time run so far', () => {
    expect(processingRemaining(10, 0, null)).toBe(10);
    expect(processingRemaining(10, 4, null)).toBe(6);
  });

  it('past the median: a share of the median, never 0 or negative', () => {
    expect(processingRemaining(10, 9.5, null)).toBe(10 * OVERDUE_SHARE);
    expect(processingRemaining(10, 50, null)).toBe(10 * OVERDUE_SHARE);
  });

  it('with progress: blended towards the rate so far, the more the further it is', () => {
    // 40 s for half: 40 s more by progress, 60 s by history (median 100): half of each.
    expect(processingRemaining(100, 40, 0.5)).toBeCloseTo(50);
    // Nearly done by the upstream's word: close to the rate's answer even when overdue.
    expect(processingRemaining(10, 30, 0.99)).toBeLessThan(1);
    // An early percentage barely moves the history's answer.
    expect(processingRemaining(100, 1, 0.01)).toBeCloseTo(0.01 * 99 + 0.99 * 99);
  });

  it('ignores progress outside (0, 1) and at zero elapsed', () => {
    expect(processingRemaining(10, 4, 0)).toBe(6);
    expect(processingRemaining(10, 4, 1)).toBe(6);
    expect(processingRemaining(10, 0, 0.5)).toBe(10);
  });

  test.prop([fc.oneof(fc.constant(0), fc.double({ min: 1e-6, max: 1e5, noNaN: true })), fc.double({ min: -10, max: 1e5, noNaN: true }), fc.option(fc.double({ min: -1, max: 2, noNaN: true }))])(
    'is finite and never negative; positive while the median is',
    (m, e, p) => {
      const r = processingRemaining(m, e, p);
      expect(Number.isFinite(r)).toBe(true);
      expect(r).toBeGreaterThanOrEqual(0);
      if (m > 0) expect(r).toBeGreaterThan(0);
    },
  );
});

/** Oracle: the queue taking slots one by one as they free, each start holding its slot for a median. */
function simulate(m: number, position: number, c: number, busy: number[]): number {
  const taken = [...busy].sort((a, b) => a - b).slice(-c);
  const slots = [...new Array<number>(c - taken.length).fill(0), ...taken];
  let start = 0;
  for (let i = 0; i < position; i++) {
    slots.sort((a, b) => a - b);
    start = slots.shift()!;
    slots.push(start + m);
  }
  return start + m;
}

describe('queuedRemaining', () => {
  it('next in line with a free slot: its own run', () => {
    expect(queuedRemaining(10, 1, 4, [])).toBe(10);
    expect(queuedRemaining(10, 2, 4, [5, 2])).toBe(10);
    expect(queuedRemaining(10, 3, 4, [5, 2])).toBe(12);
  });

  it('every slot just taken: whole waves before its own run', () => {
    expect(queuedRemaining(10, 1, 1, [10])).toBe(20);
    expect(queuedRemaining(10, 2, 2, [10, 10])).toBe(20);
    expect(queuedRemaining(10, 3, 2, [10, 10])).toBe(30);
    expect(queuedRemaining(10, 7, 2, [10, 10])).toBe(50);
  });

  it('waits for the slot that frees first', () => {
    expect(queuedRemaining(10, 1, 2, [8, 3])).toBe(13);
    expect(queuedRemaining(10, 2, 2, [8, 3])).toBe(18);
    expect(queuedRemaining(10, 3, 2, [8, 3])).toBe(23);
  });

  it('more running than slots (the limit was lowered): waits for the surplus to end first', () => {
    expect(queuedRemaining(10, 1, 1, [2, 6, 4])).toBe(16);
  });

  test.prop([
    fc.double({ min: 0.1, max: 1000, noNaN: true }),
    fc.integer({ min: 1, max: 60 }),
    fc.integer({ min: 1, max: 8 }),
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 10 }),
  ])('equals the slot-by-slot simulation', (m, position, c, shares) => {
    // Running tasks have at most a median left (without progress, processingRemaining never says more).
    const busy = shares.map((s) => s * m);
    expect(queuedRemaining(m, position, c, busy)).toBeCloseTo(simulate(m, position, c, busy), 6);
  });
});

describe('estimateAt', () => {
  it('is now plus the seconds', () => {
    expect(estimateAt(1_000_000, 2.5)).toEqual({ seconds: 2.5, at: new Date(1_002_500) });
  });
});

describe('recentRunTimes cache', () => {
  /** A Db whose execute answers the run-times statement with the given rows, counting calls. */
  function fakeDb(rows: () => Array<{ provider_id: string; model: string | null; samples: number; median: number }>) {
    const calls = { n: 0 };
    const db = { execute: async () => (calls.n++, rows()) } as unknown as Db;
    return { db, calls };
  }

  it('one query for every pair not cached; reused within the TTL, read again after it', async () => {
    const { db, calls } = fakeDb(() => [
      { provider_id: 'p', model: null, samples: RECENT_RUNS, median: 2 },
      { provider_id: 'p', model: 'm', samples: RECENT_RUNS, median: 5 },
    ]);
    const t0 = 1_000_000;
    const got = await recentRunTimes(db, [{ providerId: 'p', model: null }, { providerId: 'p', model: 'm' }, { providerId: 'p', model: null }], t0);
    const full = (medianSeconds: number) => ({ medianSeconds, samples: RECENT_RUNS });
    expect(got).toEqual([full(2), full(5), full(2)]);
    expect(calls.n).toBe(1);
    await recentRunTimes(db, [{ providerId: 'p', model: 'm' }], t0 + RUN_TIMES_TTL_MS - 1);
    expect(calls.n).toBe(1);
    await recentRunTimes(db, [{ providerId: 'p', model: 'm' }], t0 + RUN_TIMES_TTL_MS);
    expect(calls.n).toBe(2);
  });

  it('a pair without history, or with fewer than RECENT_RUNS, is asked again next time (each completion counts at once)', async () => {
    let rows: Array<{ provider_id: string; model: string | null; samples: number; median: number }> = [];
    const { db, calls } = fakeDb(() => rows);
    const t0 = 1_000_000;
    expect(await recentRunTimes(db, [{ providerId: 'q', model: null }], t0)).toEqual([null]);
    rows = [{ provider_id: 'q', model: null, samples: 1, median: 3 }];
    expect(await recentRunTimes(db, [{ providerId: 'q', model: null }], t0 + 1)).toEqual([{ medianSeconds: 3, samples: 1 }]);
    rows = [{ provider_id: 'q', model: null, samples: 2, median: 4 }];
    expect(await recentRunTimes(db, [{ providerId: 'q', model: null }], t0 + 2)).toEqual([{ medianSeconds: 4, samples: 2 }]);
    expect(calls.n).toBe(3);
  });

  it('a model named like another key never shares its entry', async () => {
    const { db } = fakeDb(() => [{ provider_id: 'r', model: '', samples: 1, median: 9 }]);
    expect(await recentRunTimes(db, [{ providerId: 'r', model: null }, { providerId: 'r', model: '' }], 1)).toEqual([null, { medianSeconds: 9, samples: 1 }]);
  });
});
