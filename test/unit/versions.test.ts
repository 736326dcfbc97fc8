// Rows of a task are ordered by version, never by updated_at (the changing
// transaction's start time, which runs backwards when an earlier-begun
// transaction commits later).
import { describe, expect, it } from 'vitest';
import type { TaskRow } from '../../src/db/schema.js';
import { parseNotice } from '../../src/events/bus.js';
import { isNewer, SeenVersions } from '../../src/events/versions.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const row = (id: string, version: number, status: TaskRow['status'], updatedAt: Date, changeXid = 100 + version) => ({ id, version, status, updatedAt, changeXid });

describe('isNewer', () => {
  it('follows the version even when updated_at runs backwards', () => {
    const claimed = row('a', 2, 'PROCESSING', at(10));
    const cancelled = row('a', 3, 'CANCELLED', at(5)); // began before the claim, committed after it
    expect(isNewer(cancelled, claimed)).toBe(true);
    expect(isNewer(claimed, cancelled)).toBe(false);
    expect(isNewer(row('a', 3, 'CANCELLED', at(20)), cancelled)).toBe(false); // the same version again
    expect(isNewer(claimed, undefined)).toBe(true);
  });
});

describe('SeenVersions', () => {
  it('hands out each task version once, in version order, whatever updated_at says', () => {
    const seen = new SeenVersions();
    expect(seen.offer(row('a', 1, 'QUEUED', at(0)))).toBe(true);
    expect(seen.offer(row('a', 2, 'PROCESSING', at(10)))).toBe(true);
    expect(seen.offer(row('a', 3, 'CANCELLED', at(5)))).toBe(true);
    expect(seen.offer(row('a', 2, 'PROCESSING', at(10)))).toBe(false); // a late, older load
    expect(seen.offer(row('a', 3, 'CANCELLED', at(5)))).toBe(false); // a re-sync re-reading it
    expect(seen.offer(row('b', 4, 'PROCESSING', at(1)))).toBe(true);
  });

  it('forgets finished tasks only below the floor, and only once many piled up', () => {
    const seen = new SeenVersions();
    for (let i = 0; i < 1500; i++) seen.offer(row(`t${i}`, 2, 'COMPLETED', at(0), i));
    seen.offer(row('live', 2, 'PROCESSING', at(0), 5));
    seen.prune(1000);
    expect(seen.size).toBe(501);
    // A finished task above the floor is still known: a re-sync re-reading it yields nothing.
    expect(seen.offer(row('t1200', 2, 'COMPLETED', at(0), 1200))).toBe(false);
    expect(seen.offer(row('live', 2, 'PROCESSING', at(0), 5))).toBe(false);
    seen.prune(2000); // below the new threshold: no scan
    expect(seen.size).toBe(501);
  });
});

describe('parseNotice', () => {
  it('reads the task id and the writer mark; a payload without a mark has none', () => {
    expect(parseNotice('5f0c6d1e-0000-4000-8000-000000000000 7351')).toEqual({ id: '5f0c6d1e-0000-4000-8000-000000000000', mark: 7351, progress: false });
    expect(parseNotice('5f0c6d1e-0000-4000-8000-000000000000')).toEqual({ id: '5f0c6d1e-0000-4000-8000-000000000000', mark: null, progress: false });
    expect(parseNotice('x junk')).toEqual({ id: 'x', mark: null, progress: false });
  });

  it('reads a trailing p as a progress-only change, with or without a mark', () => {
    expect(parseNotice('5f0c6d1e-0000-4000-8000-000000000000 7351 p')).toEqual({ id: '5f0c6d1e-0000-4000-8000-000000000000', mark: 7351, progress: true });
    expect(parseNotice('5f0c6d1e-0000-4000-8000-000000000000 p')).toEqual({ id: '5f0c6d1e-0000-4000-8000-000000000000', mark: null, progress: true });
  });
});
