// Benchmark 3: end-to-end task throughput. N tasks are created through the
// GraphQL createVideoTask mutation (8 requests in flight) while the real Runner
// works them with an instant fake provider (submit answers "completed" with a
// small file, which the runner stores and probes like any result); the clock
// stops when all N are COMPLETED (a bounded polling count).
// baseline: the same N mutations with no runner, i.e. the raw cost of creating
// them, so the ratio and the extra ms per task show what the runner adds.
import { sql } from 'drizzle-orm';
import { tasks } from '../src/db/schema.js';
import type { Bench } from './harness.js';
import { median, now, pool, sleep } from './stats.js';

export const E2E_TASKS = 300;
export const CLIENTS = 8;
export const RUNNER_CONCURRENCY = 64;
const REPEATS = 3;
const WARMUP_TASKS = 40;
const WAIT_LIMIT_MS = 60_000;

const CREATE = `mutation Create($input: CreateVideoTaskInput!) {
  createVideoTask(input: $input) { __typename ... on CreateVideoTaskSuccess { task { id status } } ... on Error { code message } }
}`;

async function createAll(b: Bench, n: number, tag: string): Promise<void> {
  await pool(
    Array.from({ length: n }, (_, i) => i),
    CLIENTS,
    async (i) => {
      const data = await b.gql<{ createVideoTask: { __typename: string; message?: string } }>(CREATE, { input: { prompt: `bench ${tag} ${i}`, durationSeconds: 4, idempotencyKey: `${tag}-${i}` } });
      if (data.createVideoTask.__typename !== 'CreateVideoTaskSuccess') throw new Error(`createVideoTask failed: ${JSON.stringify(data.createVideoTask)}`);
    },
  );
}

async function waitAllCompleted(b: Bench, n: number): Promise<void> {
  const deadline = now() + WAIT_LIMIT_MS;
  while (now() < deadline) {
    const [row] = await b.database.db
      .select({ done: sql<number>`count(*) filter (where ${tasks.status} = 'COMPLETED')::int`, bad: sql<number>`count(*) filter (where ${tasks.status} in ('FAILED', 'CANCELLED'))::int` })
      .from(tasks);
    if (Number(row?.bad ?? 0) > 0) throw new Error(`e2e: ${row?.bad} tasks did not complete`);
    if (Number(row?.done ?? 0) >= n) return;
    await sleep(25);
  }
  throw new Error(`e2e: not all ${n} tasks completed within ${WAIT_LIMIT_MS} ms`);
}

/** Tasks per second from the first mutation until the last task is COMPLETED. */
async function endToEnd(b: Bench, n: number, tag: string): Promise<number> {
  await b.reset();
  const runner = b.newRunner(RUNNER_CONCURRENCY);
  runner.start();
  try {
    const t0 = now();
    await createAll(b, n, tag);
    await waitAllCompleted(b, n);
    return n / ((now() - t0) / 1000);
  } finally {
    await runner.stop(5000);
  }
}

/** Tasks per second for the mutations alone (nothing claims them). */
async function createOnly(b: Bench, n: number, tag: string): Promise<number> {
  await b.reset();
  const t0 = now();
  await createAll(b, n, tag);
  const perSecond = n / ((now() - t0) / 1000);
  if ((await b.count('QUEUED')) !== n) throw new Error('e2e baseline: unexpected task count');
  return perSecond;
}

export interface E2eResult {
  reelay: number[];
  baseline: number[];
  reelayMedian: number;
  baselineMedian: number;
  /** end-to-end ÷ create-only (< 1: the share of throughput left after the runner's work). */
  ratio: number;
  /** Extra wall-clock ms per task that the runner adds on top of creating it. */
  overheadMsPerTask: number;
}

export async function benchE2e(b: Bench): Promise<E2eResult> {
  await createOnly(b, WARMUP_TASKS, 'warmup');
  await endToEnd(b, WARMUP_TASKS, 'warmup');
  const reelay: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    baseline.push(await createOnly(b, E2E_TASKS, `c${i}`));
    reelay.push(await endToEnd(b, E2E_TASKS, `e${i}`));
  }
  await b.reset();
  const reelayMedian = median(reelay);
  const baselineMedian = median(baseline);
  return {
    reelay,
    baseline,
    reelayMedian,
    baselineMedian,
    ratio: reelayMedian / baselineMedian,
    overheadMsPerTask: 1000 / reelayMedian - 1000 / baselineMedian,
  };
}
