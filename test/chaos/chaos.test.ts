// Chaos: split roles on one Postgres, an upstream with faults, four keys with
// tight per-key limits, a runner killed with SIGKILL every few seconds, the API
// killed once, and the LISTEN connections cut from the database side. In the
// end every task is terminal, no upstream task was created twice for one reelay
// task, every task's history is in order, and every taskUpdated subscriber saw
// the terminal state.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from 'graphql-ws';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { startTasksApiEmulator, type TasksApiEmulator } from '../emulators/tasks-api.js';
import { createTempDatabase, postgresAvailable, type TempDatabase } from '../support/postgres.js';
import { freePort, isReady, killHard, startReelayProcess, waitForOutput, type ReelayProcess } from '../support/processes.js';
import { subscribe, wsClient, type Subscription } from '../support/ws.js';

const hasPostgres = await postgresAvailable();

const TASKS = 200;
const KEYS = ['ana', 'ben', 'cho', 'dev'].map((name) => ({ name, key: `chaos-${name}-0123456789abcdef` }));
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const CREATE = `mutation($input: CreateVideoTaskInput!) {
  createVideoTask(input: $input) { __typename ... on CreateVideoTaskSuccess { task { id } } ... on Error { code message } }
}`;
const LIST = `query($after: String) {
  tasks(first: 100, after: $after, orderBy: CREATED_AT_ASC) {
    pageInfo { hasNextPage endCursor }
    edges { node { id prompt status error { code } events { status at } } }
  }
}`;

interface Node {
  id: string;
  prompt: string;
  status: string;
  error: { code: string } | null;
  events: Array<{ status: string; at: string }>;
}

/** POST to the API; null while it is down (killed, restarting). */
async function gql(url: string, key: string, query: string, variables: Record<string, unknown> = {}): Promise<any | null> {
  try {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status >= 500) return null;
    const body = (await res.json()) as { data?: unknown; errors?: unknown };
    if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('GraphQL errors')) throw err;
    return null; // connection refused or reset: the API is down
  }
}

/** Create one task like a careful client: same idempotency key on every retry, back off when limited. */
async function createTask(url: string, key: string, prompt: string, stats: { limited: number; retried: number }): Promise<string> {
  for (;;) {
    const data = await gql(url, key, CREATE, { input: { prompt, idempotencyKey: prompt } });
    if (!data) {
      stats.retried++;
      await sleep(200);
      continue;
    }
    const r = data.createVideoTask;
    if (r.__typename === 'CreateVideoTaskSuccess') return r.task.id as string;
    if (r.code === 'TOO_MANY_ACTIVE_TASKS' || r.code === 'RATE_LIMITED') {
      stats.limited++;
      await sleep(250);
      continue;
    }
    throw new Error(`create refused: ${JSON.stringify(r)}`);
  }
}

async function listAll(url: string, key: string): Promise<Node[] | null> {
  const out: Node[] = [];
  let after: string | null = null;
  for (;;) {
    const data = await gql(url, key, LIST, { after });
    if (!data) return null;
    out.push(...data.tasks.edges.map((e: { node: Node }) => e.node));
    if (!data.tasks.pageInfo.hasNextPage) return out;
    after = data.tasks.pageInfo.endCursor;
  }
}

/** A task's history reads forward: QUEUED first, time never runs backwards, one terminal event, last. */
function historyProblem(n: Node): string | null {
  const ev = n.events;
  if (!ev.length || ev[0]!.status !== 'QUEUED') return 'does not start QUEUED';
  for (let i = 1; i < ev.length; i++) {
    if (Date.parse(ev[i]!.at) < Date.parse(ev[i - 1]!.at)) return `event ${i} is older than event ${i - 1}`;
    if (TERMINAL.has(ev[i - 1]!.status)) return `event ${i} (${ev[i]!.status}) follows the terminal ${ev[i - 1]!.status}`;
  }
  const last = ev[ev.length - 1]!;
  if (last.status !== n.status) return `last event ${last.status} but the task is ${n.status}`;
  return null;
}

describe.skipIf(!hasPostgres)('chaos on split roles', () => {
  let db: TempDatabase | undefined;
  let emu: TasksApiEmulator | undefined;
  let dir: string | undefined;
  const procs: ReelayProcess[] = [];
  const clients: Client[] = [];

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await Promise.all(procs.map((p) => killHard(p)));
    await emu?.close();
    await db?.drop().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ends with every task terminal, nothing submitted twice, histories in order, every subscriber told', async () => {
    const t0 = Date.now();
    db = await createTempDatabase();
    emu = await startTasksApiEmulator({ processingAfterMs: 200, completeAfterMs: 1500 });
    // Transient upstream trouble on every path: refused submissions (safe to
    // retry), submissions cut after the upstream created the task (must never
    // be sent again), and failing or garbled polls.
    emu.server.faults.add({ match: 'POST /api/tasks/', fault: { type: 'status', status: 503 }, times: 6 });
    emu.server.faults.add({ match: 'POST /api/tasks/', fault: { type: 'drop' }, times: 4 });
    emu.server.faults.add({ match: 'GET /api/tasks/', fault: { type: 'status', status: 500 }, times: 25 });
    emu.server.faults.add({ match: 'GET /api/tasks/', fault: { type: 'malformed' }, times: 10 });

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-chaos-'));
    const configFile = path.join(dir, 'reelay.config.json');
    fs.writeFileSync(configFile, JSON.stringify({ providers: [{ id: 'up', kind: 'tasks-api', baseUrl: emu.baseUrl, maxConcurrency: 40, pollIntervalMs: 150, requestTimeoutMs: 2000 }] }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      DATABASE_URL: db.url,
      REELAY_DATA_DIR: dir,
      REELAY_CONFIG: configFile,
      REELAY_API_KEYS: KEYS.map((k) => `${k.name}:${k.key}`).join(','),
      REELAY_LEASE_MS: '1500',
      REELAY_MAX_ATTEMPTS: '8',
      REELAY_MAX_ACTIVE_TASKS_PER_KEY: '15',
      REELAY_CREATES_PER_MINUTE_PER_KEY: '0',
      REELAY_SHUTDOWN_TIMEOUT_MS: '1000',
      PORT: String(port),
    };
    const startApi = () => {
      const p = startReelayProcess(['--role', 'api'], env);
      procs.push(p);
      return p;
    };
    const startRunner = () => {
      const p = startReelayProcess(['--role', 'runner'], env);
      procs.push(p);
      return p;
    };
    let api = startApi();
    await waitForOutput(api, 'reelay ready');
    const runners = [startRunner(), startRunner()];
    await Promise.all(runners.map((r) => waitForOutput(r, 'reelay ready')));

    const stats = { limited: 0, retried: 0 };
    const subs = new Map<string, Subscription<{ status: string }>>();
    const admin = postgres(db.url, { max: 1, onnotice: () => {} });
    const chaos = { kills: 0, apiKills: 0, listenCuts: 0, stop: false };
    const chaosLoop = (async () => {
      for (let tick = 1; !chaos.stop; tick++) {
        await sleep(1000);
        if (chaos.stop) break;
        // Every few seconds SIGKILL one of the two runners, taking turns, once
        // both are up (a fleet whose runners all die before they start does no work).
        if (tick % 3 === 0 && runners.every(isReady)) {
          const i = chaos.kills % runners.length;
          await killHard(runners[i]!);
          chaos.kills++;
          runners[i] = startRunner();
        }
        if (tick % 4 === 0) {
          const cut = await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and query ilike 'listen%'`;
          chaos.listenCuts += cut.length;
        }
        if (process.env.REELAY_CHAOS_DEBUG && tick % 5 === 0) {
          const st = await Promise.all(KEYS.map((k) => gql(url, k.key, '{ stats { queued processing completed failed cancelled } }')));
          console.log(`t=${tick}s created=${subs.size} limited=${stats.limited} retried=${stats.retried}`, JSON.stringify(st.map((x) => x?.stats)));
          const leases = await admin`select lease_owner, lease_expires_at < now() as lapsed, count(*)::int as n from tasks where status = 'PROCESSING' group by 1, 2`;
          console.log(`processing by lease: ${JSON.stringify(leases)}; runners ready: ${runners.map(isReady)}`);
        }
        if (tick === 5) {
          await killHard(api);
          chaos.apiKills++;
          api = startApi();
        }
      }
    })();

    // Four clients create 50 tasks each against a limit of 15 active per key,
    // subscribing to each task as soon as they have its id.
    const perKey = TASKS / KEYS.length;
    await Promise.all(
      KEYS.map(async (k) => {
        const client = wsClient(url.replace(/^http/, 'ws') + '/graphql', k.key, {
          retryAttempts: Infinity,
          shouldRetry: () => true,
          retryWait: () => sleep(300),
        });
        clients.push(client);
        for (let i = 0; i < perKey; i++) {
          const prompt = `chaos ${k.name} #${i}${i % 10 === 7 ? ' [fail]' : ''}`;
          const id = await createTask(url, k.key, prompt, stats);
          subs.set(id, subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status } }`, { id }, (d) => d.taskUpdated));
        }
      }),
    );

    const createdAt = Date.now() - t0;
    // Keep the chaos going a little after the last create, then let it settle.
    await sleep(3000);
    chaos.stop = true;
    await chaosLoop;
    await admin.end();

    let nodes: Node[] = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const lists = await Promise.all(KEYS.map((k) => listAll(url, k.key)));
      if (lists.every((l) => l !== null)) {
        nodes = lists.flatMap((l) => l!);
        if (nodes.length === TASKS && nodes.every((n) => TERMINAL.has(n.status))) break;
      }
      if (Date.now() > deadline) {
        const open = nodes.filter((n) => !TERMINAL.has(n.status));
        throw new Error(`not all tasks ended: ${nodes.length} listed, ${open.length} open, e.g. ${JSON.stringify(open.slice(0, 3))}`);
      }
      await sleep(500);
    }

    const settledAt = Date.now() - t0;
    // Every reelay task exists once, and the upstream never created two tasks for one prompt.
    expect(new Set(nodes.map((n) => n.prompt)).size).toBe(TASKS);
    const upstreamByPrompt = new Map<string, number>();
    for (const t of emu.tasks.values()) upstreamByPrompt.set(t.prompt, (upstreamByPrompt.get(t.prompt) ?? 0) + 1);
    const twice = [...upstreamByPrompt].filter(([, n]) => n > 1);
    expect(twice).toEqual([]);

    const disorder = nodes.map((n) => [n.prompt, historyProblem(n)] as const).filter(([, p]) => p !== null);
    expect(disorder).toEqual([]);

    // Prompts marked [fail] fail; the rest complete unless a cut submission made the outcome uncertain.
    for (const n of nodes) {
      if (n.prompt.includes('[fail]')) expect(n.status, n.prompt).toBe('FAILED');
      else if (n.status !== 'COMPLETED') expect(n.error?.code, `${n.prompt}: ${n.status}`).toBe('UPSTREAM_UNCERTAIN');
    }

    // Every subscriber sees its task's terminal state, across the API restart.
    expect(subs.size).toBe(TASKS);
    const final = new Map(nodes.map((n) => [n.id, n.status]));
    await Promise.all([...subs].map(([id, s]) => s.waitFor((v) => v.status === final.get(id), 30_000)));

    expect(chaos.kills).toBeGreaterThanOrEqual(3);
    expect(chaos.apiKills).toBe(1);
    expect(chaos.listenCuts).toBeGreaterThan(0);
    const took = Date.now() - t0;
    console.log(`chaos: ${TASKS} tasks in ${(took / 1000).toFixed(1)} s (all created at ${createdAt / 1000} s, all terminal at ${settledAt / 1000} s); ${chaos.kills} runner kills, ${chaos.apiKills} API kill, ${chaos.listenCuts} LISTEN cuts; ${stats.limited} limited and ${stats.retried} failed creates retried; ${[...final.values()].filter((s) => s === 'COMPLETED').length} completed`);
    expect(took).toBeLessThan(120_000);
  }, 150_000);
});
