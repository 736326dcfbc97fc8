// Fan-out: N WebSocket clients (a process of their own, bench/fanout/clients.ts)
// each subscribed once to `taskUpdated` (one task) or `tasksUpdated`, and one
// change published per step. Measured: receipt latency from the change to
// each client (p99 over clients × changes) and server memory per subscriber
// (RSS of the server process after the clients subscribed, minus before, / N).
// reelay runs as `npm start` runs it (dist/main.js, --role api, Postgres); a
// change is an UPDATE of the task plus its NOTIFY in one transaction, as the
// runner writes it. The baseline, bench/fanout/bare-server.ts, is graphql-ws
// with an in-memory pubsub and the same fields and selection; a change there
// is an HTTP POST that publishes the row. Both servers are started fresh for
// every measurement.
//
// A p99 over one run of a few thousand clients moves by tens of percent with
// whatever else the machine does, so each setting is measured in several
// rounds, each a bare and a reelay measurement back to back (the order
// alternating between rounds), and the ratio reported is the median of the
// per-round p99 ratios: each ratio compares two runs made under the same
// load, and the median drops a round that a burst of other work spoiled
// without picking the best one. The pooled p99 (all rounds' samples) and the
// range of the per-round ratios are printed next to it.
//
// Alone: `npx tsx bench/fanout.ts [--n 1000,5000] [--rounds 3] [--changes 20] [--field tasksUpdated]` or `npm run bench -- fanout`.
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { createTempDatabase } from '../test/support/postgres.js';
import { buildOnce, freePort, ROOT } from '../test/support/processes.js';
import { npmStartFlags } from './npm-start.js';
import { fmt, median, percentile } from './stats.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const clock = () => performance.timeOrigin + performance.now();
const SELECTION = '{ id status progress updatedAt }';

export type FanoutField = 'taskUpdated' | 'tasksUpdated';

export interface FanoutMeasure {
  p50: number;
  p99: number;
  /** Every receipt latency of the measurement (ms), for pooling across rounds. */
  latencies: number[];
  /** Server CPU time (user + system) per change, ms: steadier than latency on a busy machine. */
  cpuMsPerChange: number;
  /** kB of server RSS per subscriber (after a full collection). */
  kbPerSubscriber: number;
  /** kB of V8 heap in use per subscriber (after a full collection). */
  heapKbPerSubscriber: number;
}

export interface FanoutRound {
  reelay: FanoutMeasure;
  bare: FanoutMeasure;
}

export interface FanoutSummary {
  /** p50 / p99 over every round's samples (clients × changes × rounds). */
  p50: number;
  p99: number;
  /** Median over rounds. */
  cpuMsPerChange: number;
  kbPerSubscriber: number;
  heapKbPerSubscriber: number;
}

export interface FanoutRow {
  field: FanoutField;
  n: number;
  rounds: FanoutRound[];
  reelay: FanoutSummary;
  bare: FanoutSummary;
  /** Median of the per-round reelay p99 ÷ bare p99: the figure reported. */
  p99Ratio: number;
  /** Lowest and highest per-round ratio. */
  ratioRange: [number, number];
}

interface Server {
  pid: number;
  wsUrl: string;
  /** Publish one change; resolves when the server has it (committed / accepted). */
  change(round: number): Promise<void>;
  stop(): Promise<void>;
}

/** Both servers collect garbage on SIGUSR2 (see fanout/gc-on-signal.mjs). */
const GC_ARGS = ['--expose-gc', '--import', pathToFileURL(path.join(HERE, 'fanout', 'gc-on-signal.mjs')).href];

/** Profiling both servers: e.g. REELAY_FANOUT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const nodeArgs = () => process.env.REELAY_FANOUT_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU time (user + system) a process has used so far, ms. */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

const memoryFile = (pid: number) => path.join(os.tmpdir(), `reelay-fanout-memory-${pid}.json`);

/** RSS and V8 heap in use (kB) after a full collection. */
async function settledMemory(pid: number): Promise<{ rss: number; heap: number }> {
  await sleep(500);
  fs.rmSync(memoryFile(pid), { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 100 && !fs.existsSync(memoryFile(pid)); i++) await sleep(50);
  await sleep(200);
  const m = JSON.parse(fs.readFileSync(memoryFile(pid), 'utf8')) as { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  fs.rmSync(memoryFile(pid), { force: true });
  return { rss: m.rss / 1024, heap: m.heapUsed / 1024 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(t);
}

async function startReelay(dbUrl: string, dataDir: string): Promise<Server & { taskId: string }> {
  const port = await freePort();
  buildOnce();
  const child = spawn(process.execPath, [...npmStartFlags(), ...GC_ARGS, ...nodeArgs(), 'dist/main.js', '--role', 'api'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env,
    DATABASE_URL: dbUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    REELAY_DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0',
    REELAY_CREATES_PER_MINUTE_PER_KEY: '0',
  } });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += String(d);
      if (out.includes('reelay ready')) resolve();
    });
    child.stderr!.on('data', (d) => (out += String(d)));
    child.once('exit', () => reject(new Error(`reelay exited: ${out}`)));
  });
  const url = `http://127.0.0.1:${port}/graphql`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { createVideoTask(input: { prompt: "fan-out" }) { ... on CreateVideoTaskSuccess { task { id } } } }' }),
  });
  const taskId = ((await res.json()) as { data: { createVideoTask: { task: { id: string } } } }).data.createVideoTask.task.id;
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  return {
    pid: child.pid!,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    taskId,
    async change(round) {
      // What a runner's progress update does: the row, its change stamp and the notification, at commit.
      await sql.begin(async (tx) => {
        await tx`update tasks set progress = ${(round % 100) / 100}, version = version + 1, change_xid = pg_current_xact_id()::text::bigint, updated_at = now() where id = ${taskId}`;
        await tx`select pg_notify('reelay_task', ${taskId}::text || ' ' || pg_snapshot_xmin(pg_current_snapshot())::text)`;
      });
    },
    async stop() {
      await sql.end({ timeout: 1 });
      await stopChild(child);
    },
  };
}

async function startBare(): Promise<Server> {
  const child = spawn(process.execPath, [...npmStartFlags(), ...GC_ARGS, ...nodeArgs(), '--import', 'tsx', path.join(HERE, 'fanout', 'bare-server.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    // The runtime settings reelay runs with (npm start's node flags, production mode: src/production-mode.ts),
    // so the ratio compares the work of the two servers, not V8's young-generation size or graphql's mode.
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      const m = /port (\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error('the bare server exited')));
  });
  const id = '00000000-0000-4000-8000-000000000001';
  return {
    pid: child.pid!,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    async change(round) {
      const body = JSON.stringify({ id, status: 'QUEUED', progress: (round % 100) / 100, updatedAt: new Date().toISOString() });
      await fetch(`http://127.0.0.1:${port}/publish`, { method: 'POST', body });
    },
    stop: () => stopChild(child),
  };
}

/** The clients process and a request/answer channel to it. */
async function startClients(): Promise<{ ask<T>(msg: object): Promise<T>; stop(): Promise<void> }> {
  const child = fork(path.join(HERE, 'fanout', 'clients.ts'), [], { execArgv: ['--import', 'tsx', '--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  return {
    ask<T>(msg: object) {
      return new Promise<T>((resolve, reject) => {
        child.once('message', (m: T & { error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m)));
        child.send(msg);
      });
    },
    async stop() {
      child.send({ close: true });
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function measure(server: Server, field: FanoutField, n: number, changes: number, taskId: string): Promise<FanoutMeasure> {
  const before = await settledMemory(server.pid);
  const clients = await startClients();
  try {
    const initial = field === 'taskUpdated';
    const query = initial ? `subscription($id: ID!) { taskUpdated(id: $id) ${SELECTION} }` : `subscription { tasksUpdated ${SELECTION} }`;
    await clients.ask({ open: { url: server.wsUrl, n, query, variables: initial ? { id: taskId } : {}, initial } });
    let received = initial ? 1 : 0;
    if (!initial) await sleep(1000); // subscriptions without a first message: let the server set them up
    // A warm-up change (also proves every subscription live), then memory.
    await server.change(0);
    await clients.ask({ await: ++received });
    const after = await settledMemory(server.pid);
    if (process.env.REELAY_FANOUT_HEAPSNAPSHOT) {
      // With REELAY_FANOUT_NODE_ARGS="--heapsnapshot-signal=SIGUSR1": a snapshot of the server with every client subscribed.
      process.kill(server.pid, 'SIGUSR1');
      await sleep(Number(process.env.REELAY_FANOUT_HEAPSNAPSHOT));
    }
    const latencies: number[] = [];
    const cpu0 = cpuMs(server.pid);
    for (let r = 1; r <= changes; r++) {
      const t0 = clock();
      await server.change(r);
      const { times } = await clients.ask<{ times: number[] }>({ await: ++received });
      for (const t of times) latencies.push(t - t0);
      await sleep(50);
    }
    // The 50 ms pauses between changes cost an idle server next to nothing.
    const cpuMsPerChange = (cpuMs(server.pid) - cpu0) / changes;
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), latencies, cpuMsPerChange, kbPerSubscriber: (after.rss - before.rss) / n, heapKbPerSubscriber: (after.heap - before.heap) / n };
  } finally {
    await clients.stop();
  }
}

/** One measurement on a freshly started server, stopped afterwards. */
async function measureFresh(which: 'reelay' | 'bare', field: FanoutField, n: number, changes: number, dbUrl: string, dataDir: string): Promise<FanoutMeasure> {
  if (which === 'bare') {
    const server = await startBare();
    try {
      return await measure(server, field, n, changes, '00000000-0000-4000-8000-000000000001');
    } finally {
      await server.stop();
    }
  }
  const server = await startReelay(dbUrl, dataDir);
  try {
    return await measure(server, field, n, changes, server.taskId);
  } finally {
    await server.stop();
  }
}

function summarize(ms: FanoutMeasure[]): FanoutSummary {
  const all = ms.flatMap((m) => m.latencies);
  return { p50: percentile(all, 50), p99: percentile(all, 99), cpuMsPerChange: median(ms.map((m) => m.cpuMsPerChange)), kbPerSubscriber: median(ms.map((m) => m.kbPerSubscriber)), heapKbPerSubscriber: median(ms.map((m) => m.heapKbPerSubscriber)) };
}

export async function benchFanout(opts: { ns?: number[]; rounds?: number; changes?: number; fields?: FanoutField[]; log?: (line: string) => void } = {}): Promise<FanoutRow[]> {
  const ns = opts.ns ?? [1000, 5000];
  const roundCount = opts.rounds ?? 3;
  const changes = opts.changes ?? 20;
  const log = opts.log ?? (() => {});
  const db = await createTempDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-fanout-'));
  const rows: FanoutRow[] = [];
  try {
    for (const field of opts.fields ?? (['taskUpdated', 'tasksUpdated'] as const)) {
      for (const n of ns) {
        const rounds: FanoutRound[] = [];
        for (let r = 0; r < roundCount; r++) {
          // Alternating order: neither server always runs right after the other one's clients went away.
          const order = r % 2 ? (['reelay', 'bare'] as const) : (['bare', 'reelay'] as const);
          const round: Partial<FanoutRound> = {};
          for (const which of order) round[which] = await measureFresh(which, field, n, changes, db.url, dataDir);
          rounds.push(round as FanoutRound);
          log(`  ${field} × ${n} round ${r + 1}/${roundCount} (load ${os.loadavg()[0]!.toFixed(1)}): p99 ${fmt(round.reelay!.p99, 1)} vs bare ${fmt(round.bare!.p99, 1)} ms = ${fmt(round.reelay!.p99 / round.bare!.p99)}×, CPU ${fmt(round.reelay!.cpuMsPerChange, 1)} vs ${fmt(round.bare!.cpuMsPerChange, 1)} ms/change`);
        }
        const ratios = rounds.map((r) => r.reelay.p99 / r.bare.p99);
        const row: FanoutRow = {
          field,
          n,
          rounds,
          reelay: summarize(rounds.map((r) => r.reelay)),
          bare: summarize(rounds.map((r) => r.bare)),
          p99Ratio: median(ratios),
          ratioRange: [Math.min(...ratios), Math.max(...ratios)],
        };
        rows.push(row);
        log(describeFanout(row));
      }
    }
  } finally {
    await db.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  return rows;
}

export function describeFanout(r: FanoutRow): string {
  return (
    `${r.field} × ${r.n}: p99 ratio ${fmt(r.p99Ratio)}× (median of ${r.rounds.length} rounds, range ${fmt(r.ratioRange[0])}–${fmt(r.ratioRange[1])}×); ` +
    `pooled p99 ${fmt(r.reelay.p99, 1)} ms vs bare ${fmt(r.bare.p99, 1)} ms = ${fmt(r.reelay.p99 / r.bare.p99)}×, ` +
    `p50 ${fmt(r.reelay.p50, 1)} / ${fmt(r.bare.p50, 1)} ms; server CPU ${fmt(r.reelay.cpuMsPerChange, 1)} / ${fmt(r.bare.cpuMsPerChange, 1)} ms per change; memory ${fmt(r.reelay.kbPerSubscriber, 1)} kB/subscriber (bare ${fmt(r.bare.kbPerSubscriber, 1)}), heap ${fmt(r.reelay.heapKbPerSubscriber, 1)} (bare ${fmt(r.bare.heapKbPerSubscriber, 1)})`
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const ns = arg('--n')?.split(',').map(Number);
  const only = arg('--field') as FanoutField | undefined;
  const rounds = arg('--rounds') ? Number(arg('--rounds')) : undefined;
  const changes = arg('--changes') ? Number(arg('--changes')) : undefined;
  benchFanout({ ns, rounds, changes, fields: only ? [only] : undefined, log: console.log }).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
