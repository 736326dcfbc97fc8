// Benchmark 2: claim throughput. 5,000 QUEUED tasks are claimed in batches of
// 50 until none is left; after every batch the claimed tasks are completed (the
// same untimed statement for both) so provider slots free up again.
// reelay: claimDueTasks (advisory lock, orphan check, per-provider slot count,
// SKIP LOCKED select, update, one event per task, change notifications).
// baseline: one minimal SKIP LOCKED update … returning *, nothing else.
import { inArray, sql } from 'drizzle-orm';
import { execRows } from '../src/db/client.js';
import { tasks } from '../src/db/schema.js';
import { claimDueTasks } from '../src/runner/claim.js';
import { PROVIDER, type Bench } from './harness.js';
import { median, now } from './stats.js';

export const QUEUED_TASKS = 5000;
export const BATCH = 50;
const REPEATS = 3;
const WARMUP_TASKS = 500;
const LEASE_MS = 30_000;
const OWNER = 'bench-runner';

type Claim = (b: Bench) => Promise<string[]>;

const reelayClaim: Claim = async (b) => {
  const rows = await claimDueTasks(b.database.db, { owner: OWNER, leaseMs: LEASE_MS, limit: BATCH, providers: [{ id: PROVIDER, maxConcurrency: BATCH }] });
  return rows.map((r) => r.id);
};

const baselineClaim: Claim = async (b) => {
  const rows = await execRows<{ id: string }>(
    b.database.db,
    sql`update tasks set status = 'PROCESSING', lease_owner = ${OWNER}, lease_expires_at = now() + ${`${LEASE_MS} milliseconds`}::interval
        where id in (select id from tasks where status = 'QUEUED' order by created_at limit ${BATCH} for update skip locked)
        returning *`,
  );
  return rows.map((r) => r.id);
};

/** Claim everything; returns the time spent inside the claim calls only, in ms. */
async function drain(b: Bench, claim: Claim, expected: number): Promise<number> {
  let claimMs = 0;
  let total = 0;
  // Bounded: each round claims at least one task, or we stop.
  for (let round = 0; round <= Math.ceil(expected / BATCH) + 1; round++) {
    const t0 = now();
    const ids = await claim(b);
    claimMs += now() - t0;
    if (!ids.length) break;
    if (ids.length > BATCH) throw new Error(`claim returned ${ids.length} > ${BATCH}`);
    total += ids.length;
    await b.database.db.update(tasks).set({ status: 'COMPLETED', leaseOwner: null, leaseExpiresAt: null, completedAt: sql`now()` }).where(inArray(tasks.id, ids));
  }
  if (total !== expected) throw new Error(`claimed ${total} tasks, expected ${expected}`);
  return claimMs;
}

async function once(b: Bench, claim: Claim, count: number): Promise<number> {
  await b.reset();
  await b.seed(count, 0, () => 'QUEUED');
  const ms = await drain(b, claim, count);
  return count / (ms / 1000);
}

export interface ClaimResult {
  /** tasks claimed per second, one entry per repetition */
  reelay: number[];
  baseline: number[];
  reelayMedian: number;
  baselineMedian: number;
  /** reelay ÷ baseline (> 1: reelay faster). */
  ratio: number;
}

export async function benchClaim(b: Bench): Promise<ClaimResult> {
  await once(b, reelayClaim, WARMUP_TASKS);
  await once(b, baselineClaim, WARMUP_TASKS);
  const reelay: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    // Alternate the order so neither always runs first (warmer caches, background work).
    if (i % 2 === 0) {
      reelay.push(await once(b, reelayClaim, QUEUED_TASKS));
      baseline.push(await once(b, baselineClaim, QUEUED_TASKS));
    } else {
      baseline.push(await once(b, baselineClaim, QUEUED_TASKS));
      reelay.push(await once(b, reelayClaim, QUEUED_TASKS));
    }
  }
  await b.reset();
  const reelayMedian = median(reelay);
  const baselineMedian = median(baseline);
  return { reelay, baseline, reelayMedian, baselineMedian, ratio: reelayMedian / baselineMedian };
}
