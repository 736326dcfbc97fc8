// Benchmark 1: one page of 50 tasks with their events and queue positions.
// reelay: the GraphQL query through the real HTTP server (DataLoader batching).
// baseline: the same data the naive N+1 way with Drizzle directly (the page,
// then per task one query for its events and, when QUEUED, one for its queue
// position). reference: the three batched queries reelay's loaders issue, with
// Drizzle directly and no HTTP/GraphQL, to show what the database part costs.
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { execRows } from '../src/db/client.js';
import { getQueuePositions } from '../src/db/queue-positions.js';
import { getEventsForTasks } from '../src/db/read-tasks.js';
import { taskEvents, tasks, type TaskStatus } from '../src/db/schema.js';
import { OWNER, type Bench } from './harness.js';
import { fmt, median, percentile, timed } from './stats.js';

export const TASKS = 2000;
export const EVENTS_PER_TASK = 5;
const PAGE = 50;
const WARMUP = 10;
const ROUNDS = 3;
const PER_ROUND = 30;

const QUERY = `query Page($first: Int!) { tasks(first: $first) { edges { node { id status events { status message } queuePosition } } } }`;

interface PageNode {
  id: string;
  status: string;
  events: Array<{ status: string; message: string | null }>;
  queuePosition: number | null;
}

// Half QUEUED so queue positions matter; the rest spread over the other states.
const STATUS_CYCLE: TaskStatus[] = ['QUEUED', 'COMPLETED', 'QUEUED', 'PROCESSING', 'QUEUED', 'FAILED', 'QUEUED', 'CANCELLED'];
const statusOf = (i: number) => STATUS_CYCLE[i % STATUS_CYCLE.length]!;

async function viaGraphql(b: Bench): Promise<PageNode[]> {
  const data = await b.gql<{ tasks: { edges: Array<{ node: PageNode }> } }>(QUERY, { first: PAGE });
  return data.tasks.edges.map((e) => e.node);
}

function pageQuery(b: Bench) {
  return b.database.db.select().from(tasks).where(eq(tasks.owner, OWNER)).orderBy(desc(tasks.createdAt), desc(tasks.id)).limit(PAGE);
}

// One owner: the fair order is creation order, so a count of older queued tasks is the position.
async function naive(b: Bench): Promise<PageNode[]> {
  const db = b.database.db;
  const page = await pageQuery(b);
  const out: PageNode[] = [];
  for (const t of page) {
    const events = await db.select({ status: taskEvents.status, message: taskEvents.message }).from(taskEvents).where(eq(taskEvents.taskId, t.id)).orderBy(asc(taskEvents.id));
    let queuePosition: number | null = null;
    if (t.status === 'QUEUED') {
      const [row] = await execRows<{ n: number }>(
        db,
        sql`select count(*)::int as n from ${tasks} o
            where o.status = 'QUEUED' and o.provider_id = ${t.providerId} and (o.created_at, o.id) <= (${t.createdAt.toISOString()}::timestamptz, ${t.id}::uuid)`,
      );
      queuePosition = Number(row?.n ?? 0);
    }
    out.push({ id: t.id, status: t.status, events, queuePosition });
  }
  return out;
}

async function batched(b: Bench): Promise<PageNode[]> {
  const db = b.database.db;
  const page = await pageQuery(b);
  const ids = page.map((t) => t.id);
  const [events, positions] = await Promise.all([getEventsForTasks(db, ids), getQueuePositions(db, page.filter((t) => t.status === 'QUEUED').map((t) => t.id))]);
  return page.map((t) => ({ id: t.id, status: t.status, events: events.filter((e) => e.taskId === t.id), queuePosition: positions.get(t.id) ?? null }));
}

function sameAnswer(a: PageNode[], b: PageNode[]): boolean {
  const key = (n: PageNode[]) => JSON.stringify(n.map((x) => [x.id, x.status, x.queuePosition, x.events.map((e) => [e.status, e.message])]));
  return key(a) === key(b);
}

export interface Measured {
  medianMs: number;
  p95Ms: number;
  perSecond: number;
  samples: number;
}

function summarize(ms: number[]): Measured {
  const m = median(ms);
  return { medianMs: m, p95Ms: percentile(ms, 95), perSecond: 1000 / m, samples: ms.length };
}

export interface ListPageResult {
  reelay: Measured;
  baseline: Measured;
  reference: Measured;
  /** reelay pages/s ÷ baseline pages/s (> 1: reelay faster). */
  ratio: number;
}

export async function benchListPage(b: Bench): Promise<ListPageResult> {
  await b.reset();
  await b.seed(TASKS, EVENTS_PER_TASK, statusOf);
  const [g, n, r] = [await viaGraphql(b), await naive(b), await batched(b)];
  if (g.length !== PAGE || !sameAnswer(g, n) || !sameAnswer(g, r)) throw new Error('list-page: the three ways disagree about the page');
  if (!g.some((x) => x.queuePosition !== null) || g.some((x) => x.events.length !== EVENTS_PER_TASK)) throw new Error('list-page: unexpected page contents');

  for (let i = 0; i < WARMUP; i++) {
    await viaGraphql(b);
    await naive(b);
    await batched(b);
  }
  const ms = { reelay: [] as number[], baseline: [] as number[], reference: [] as number[] };
  // Interleaved rounds so drift (GC, caches, the other core) hits all three alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < PER_ROUND; i++) ms.reelay.push(await timed(() => viaGraphql(b)));
    for (let i = 0; i < PER_ROUND; i++) ms.baseline.push(await timed(() => naive(b)));
    for (let i = 0; i < PER_ROUND; i++) ms.reference.push(await timed(() => batched(b)));
  }
  const reelay = summarize(ms.reelay);
  const baseline = summarize(ms.baseline);
  const reference = summarize(ms.reference);
  return { reelay, baseline, reference, ratio: reelay.perSecond / baseline.perSecond };
}

export function describeMeasured(m: Measured): string {
  return `median ${fmt(m.medianMs)} ms, p95 ${fmt(m.p95Ms)} ms (${fmt(m.perSecond, 1)} pages/s, n=${m.samples})`;
}
