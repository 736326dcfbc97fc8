// Recent run times per (provider, model), kept in the process for a few seconds:
// a list page of active tasks asks for them on every request, and they change
// slowly once the window of RECENT_RUNS is full (one more completion moves a
// median of 50 by little). One cache per database (a process may serve several,
// e.g. in tests); concurrent misses of one pair share one query. A pair with a
// window not full yet is not kept: a sparse history changes with every
// completion (the first ones must count at once), and reading fewer than
// RECENT_RUNS index entries is cheap.
import type { Db } from '../db/client.js';
import { getRecentRunTimes, RECENT_RUNS, runTimeKey, type RunTimeKey, type RunTimes } from '../db/recent-run-times.js';

/** How long a pair's run times are reused before they are read again. */
export const RUN_TIMES_TTL_MS = 3000;
/** Entries kept at most per database (a bound against many models, not a working-set size). */
const MAX_ENTRIES = 10_000;

interface Entry {
  until: number;
  value: Promise<RunTimes | null>;
}

const caches = new WeakMap<Db, Map<string, Entry>>();

/** Run times of each pair (null: no COMPLETED task there yet), at most one query for all the pairs not cached. */
export async function recentRunTimes(db: Db, keys: readonly RunTimeKey[], now = Date.now()): Promise<Array<RunTimes | null>> {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = new Map()));
  const missing = new Map<string, RunTimeKey>();
  for (const k of keys) {
    const key = runTimeKey(k);
    const hit = cache.get(key);
    if (!hit || hit.until <= now) missing.set(key, k);
  }
  if (missing.size) {
    if (cache.size + missing.size > MAX_ENTRIES) cache.clear();
    const read = getRecentRunTimes(db, [...missing.values()]);
    for (const key of missing.keys()) {
      const value = read.then((found) => found.get(key) ?? null);
      const entry: Entry = { until: now + RUN_TIMES_TTL_MS, value };
      cache.set(key, entry);
      // Failures and sparse histories are not kept (the next request asks again).
      const c = cache;
      value.then(
        (v) => (v === null || v.samples < RECENT_RUNS) && c.get(key) === entry && c.delete(key),
        () => c.get(key) === entry && c.delete(key),
      );
    }
  }
  return Promise.all(keys.map((k) => cache.get(runTimeKey(k))!.value));
}
