// Benchmark: many upstream jobs in flight in one reelay process (issue 8, "a
// runner that scales with jobs"). An upstream emulator (LightX2V protocol,
// progress on every poll, so reelay polls at the configured interval) runs
// in this process; reelay runs as the real server (`dist/main.js`, --role all)
// on a fresh Postgres database in a child process of its own, so its CPU is
// read from /proc/<pid>/stat alone. N QUEUED tasks are seeded by SQL; each
// upstream job finishes `durationMs` after it was submitted.
// Measured:
//   - CPU of the reelay process while it only polls (every job submitted, none finished): over the
//     first 60 % of that window with the API idle (like the baseline), then with the API probe;
//   - upstream finish → COMPLETED lag (p50/p99/max), from the emulator's finish time and completed_at;
//   - the slowest API query (`tasks(first: 50)`, `stats`, one after the other, from bench/jobs-probe.ts
//     in a process of its own) while the jobs are polled (the last 40 %) and while they finish;
//   - the most jobs in flight at once.
// Baseline: a bare loop (bench/poll-loop.ts, its own process) doing the same
// upstream polls with node:http (kept-alive) + JSON.parse and nothing else;
// the same loop with fetch is shown too.
// Alone: `npx tsx bench/jobs.ts [--jobs 1000] [--interval 2000] [--duration 60000] [--rounds 1]`.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { startLightx2vEmulator, type Lightx2vEmulator } from '../test/emulators/lightx2v.js';
import { createTempDatabase } from '../test/support/postgres.js';
import { npmStartFlags } from './npm-start.js';
import { fmt, percentile } from './stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const OWNER = 'anonymous';

/** What `npm run bench` measures: the issue's two settings, jobs of 60 s (the 10,000 take longer to submit, so they run 150 s to be all in flight at once). */
export const JOBS_RUNS: Array<JobsOptions & { rounds: number }> = [
  { jobs: 1000, intervalMs: 2000, durationMs: 60_000, rounds: 3 },
  { jobs: 10_000, intervalMs: 10_000, durationMs: 150_000, rounds: 1 },
];

export interface JobsOptions {
  jobs: number;
  intervalMs: number;
  durationMs: number;
  /** Extra node flags for the reelay process. */
  nodeArgs?: string[];
  /** Write a CPU profile of the reelay process's polling window to this directory (bench/cpu-prof-window.mjs). */
  profileDir?: string;
  /** With profileDir: profile the finishing phase (first finish until every job is done) instead of the polling window. */
  profileFinishing?: boolean;
  /** Run this compiled reelay (a directory like dist/, its drizzle/ beside it) instead of building dist/: A/B runs of two versions at once. */
  distDir?: string;
  /** Skip the bare poll loops (baselineCpuPercent and fetchCpuPercent are then NaN). */
  noBaseline?: boolean;
  log?: (line: string) => void;
}

export interface JobsResult {
  jobs: number;
  intervalMs: number;
  durationMs: number;
  /** CPU of the reelay process while polling with the API idle, % of one core. */
  cpuPercent: number;
  cpuWindowS: number;
  /** The same, for the rest of the polling window, while the API probe sends queries. */
  cpuWithProbePercent: number;
  probeWindowS: number;
  /** The bare poll loop's CPU for the same polls (node:http, kept-alive connections). */
  baselineCpuPercent: number;
  /** The same loop with fetch. */
  fetchCpuPercent: number;
  baselinePollsPerSecond: number;
  /** Upstream polls per second the emulator saw during the CPU window. */
  pollsPerSecond: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** Slowest API query while jobs finished, and while they were polled. */
  slowestQueryFinishingMs: number;
  queryP99FinishingMs: number;
  slowestQueryPollingMs: number;
  queriesFinishing: number;
  queriesPolling: number;
  /** API probe queries that failed (an HTTP error or GraphQL errors). */
  probeErrors: number;
  maxInFlight: number;
  completed: number;
  failed: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** utime + stime of a process, in ms. */
function cpuMsOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS) * 1000;
}

/** The API probe (bench/jobs-probe.ts) in a process of its own; `stop()` resolves with every sample. */
function startProbe(url: string): { stop(): Promise<ProbeSample[]>; kill(): void } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/jobs-probe.ts'), url], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  const exited = new Promise((r) => child.once('exit', r));
  return {
    async stop() {
      child.stdin!.end();
      await exited;
      return (JSON.parse(out.trim() || '[]') as Array<[number, number, boolean]>).map(([at, ms, ok]) => ({ at, ms, ok }));
    },
    kill: () => void (child.exitCode === null && child.kill()),
  };
}

interface ProbeSample {
  /** When the query was sent (epoch ms). */
  at: number;
  ms: number;
  ok: boolean;
}

async function baselineLoop(mode: 'fetch' | 'http', emuUrl: string, ids: string[], intervalMs: number, windowMs: number): Promise<{ cpuPercent: number; pollsPerSecond: number }> {
  const file = path.join(os.tmpdir(), `reelay-bench-ids-${process.pid}.txt`);
  fs.writeFileSync(file, ids.join('\n'));
  try {
    // Not execFileSync: the emulator answering it runs in this process.
    const child = spawn(process.execPath, [...npmStartFlags(), '--import', 'tsx', path.join(ROOT, 'bench/poll-loop.ts'), mode, `${emuUrl}/v1/tasks/`, file, String(intervalMs), String(windowMs)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    await new Promise((r) => child.once('exit', r));
    return JSON.parse(out.trim().split('\n').pop()!) as { cpuPercent: number; pollsPerSecond: number };
  } finally {
    fs.rmSync(file, { force: true });
  }
}

export async function benchJobs(opts: JobsOptions): Promise<JobsResult> {
  const log = opts.log ?? ((l: string) => console.log(`     ${l}`));
  const { jobs, intervalMs, durationMs } = opts;
  if (!opts.distDir) execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  const mainJs = path.join(opts.distDir ?? path.join(ROOT, 'dist'), 'main.js');
  const temp = await createTempDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-bench-jobs-'));
  const emu: Lightx2vEmulator = await startLightx2vEmulator({ processingAfterMs: 0, completeAfterMs: durationMs, statusPathField: 'save_result_path' });
  // The emulator keeps every request for test assertions: not needed here.
  const trim = setInterval(() => (emu.server.requests.length = 0), 1000);
  // New connections to the upstream: a poll that finds no kept-alive socket pays a connect (and later a close).
  let connections = 0;
  emu.server.httpServer!.on('connection', () => connections++);
  const sql = postgres(temp.url, { max: 2, onnotice: () => {} });
  const port = await freePort();
  const configFile = path.join(dataDir, 'reelay.config.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({ providers: [{ id: 'up', kind: 'lightx2v', baseUrl: emu.url, maxConcurrency: jobs, pollIntervalMs: intervalMs, timeoutMs: durationMs * 10 + 600_000 }], defaultProvider: 'up' }),
  );
  const profArgs = opts.profileDir ? ['--import', path.join(ROOT, 'bench/cpu-prof-window.mjs')] : [];
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...profArgs, ...npmStartFlags(), mainJs], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: temp.url,
      REELAY_DATA_DIR: dataDir,
      REELAY_CONFIG: configFile,
      REELAY_RUNNER_CONCURRENCY: String(jobs),
      REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0',
      REELAY_CREATES_PER_MINUTE_PER_KEY: '0',
      LOG_LEVEL: 'warn',
      ...(opts.profileDir ? { REELAY_CPU_PROF_DIR: opts.profileDir } : {}),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const api = `http://127.0.0.1:${port}/graphql`;
  let apiProbe: ReturnType<typeof startProbe> | undefined;
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error('reelay exited during start-up');
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
      if (ok) break;
      if (i > 300) throw new Error('reelay did not start');
      await sleep(100);
    }
    // Seed N QUEUED tasks (by SQL, in chunks) and wake the runner.
    for (let from = 0; from < jobs; from += 1000) {
      const n = Math.min(1000, jobs - from);
      await sql`insert into tasks (owner, provider_id, prompt, params) select ${OWNER}, 'up', 'bench job ' || g, '{}'::jsonb from generate_series(${from + 1}::int, ${from + n}::int) g`;
    }
    await sql`select pg_notify('reelay_wake', '')`;

    // Wait until every job is at the upstream, sampling how many are in flight.
    let maxInFlight = 0;
    const counts = async () => {
      const [row] = await sql<Array<{ submitted: number; processing: number; completed: number; failed: number; done: number }>>`
        select count(*) filter (where provider_task_id is not null)::int as submitted,
               count(*) filter (where status = 'PROCESSING' and provider_task_id is not null)::int as processing,
               count(*) filter (where status = 'COMPLETED')::int as completed,
               count(*) filter (where status = 'FAILED')::int as failed,
               count(*) filter (where status in ('COMPLETED', 'FAILED', 'CANCELLED'))::int as done
        from tasks`;
      maxInFlight = Math.max(maxInFlight, row!.processing);
      return row!;
    };
    const tStart = Date.now();
    for (;;) {
      const c = await counts();
      if (c.submitted >= jobs) break;
      if (c.done > 0 && c.done >= jobs) break;
      if (Date.now() - tStart > durationMs * 3 + 120_000) throw new Error(`only ${c.submitted} of ${jobs} jobs were submitted`);
      await sleep(250);
    }
    const submittedIn = (Date.now() - tStart) / 1000;
    log(`${jobs} jobs submitted in ${fmt(submittedIn, 1)} s`);

    // CPU while polling: from one interval after the last submission until the first job finishes.
    // The first 60 % of that window with the API idle (what the bare loop does too: polls, nothing
    // else), the rest with the API probe running (its CPU shown apart, and the slowest query).
    const firstFinish = Math.min(...[...emu.tasks.values()].map((t) => t.createdAt)) + durationMs;
    await sleep(Math.min(intervalMs, Math.max(0, firstFinish - Date.now() - 2000)));
    const windowEnd = firstFinish - 1000;
    const idleEnd = Date.now() + (windowEnd - Date.now()) * 0.6;
    // HOT updates of tasks in the window (a HOT update writes no index entry): statistics lag about a second.
    const hot = async () => {
      const [r] = await sql<Array<{ upd: string; hot: string }>>`select n_tup_upd::text as upd, n_tup_hot_upd::text as hot from pg_stat_user_tables where relname = 'tasks'`;
      return { upd: Number(r?.upd ?? 0), hot: Number(r?.hot ?? 0) };
    };
    const polls = () => [...emu.tasks.values()].reduce((s, t) => s + t.polls, 0);
    const hot0 = await hot();
    const c0 = cpuMsOf(child.pid!);
    const polls0 = polls();
    const w0 = performance.now();
    const conn0 = connections;
    if (opts.profileDir && !opts.profileFinishing) child.kill('SIGUSR2');
    const until = async (end: number) => {
      while (Date.now() < end) {
        await counts();
        await sleep(Math.min(1000, Math.max(10, end - Date.now())));
      }
    };
    await until(idleEnd);
    const cpuWindowS = (performance.now() - w0) / 1000;
    const c1 = cpuMsOf(child.pid!);
    const cpuPercent = ((c1 - c0) / (cpuWindowS * 1000)) * 100;
    if (opts.profileDir && !opts.profileFinishing) child.kill('SIGUSR2');
    const pollsPerSecond = (polls() - polls0) / cpuWindowS;
    const connectsPerSecond = (connections - conn0) / cpuWindowS;
    const hot1 = await hot();
    log(`tasks updates in the window: ${hot1.upd - hot0.upd}, of which HOT ${hot1.hot - hot0.hot} (${fmt(((hot1.hot - hot0.hot) / Math.max(1, hot1.upd - hot0.upd)) * 100, 0)} %)`);
    log(`polling: ${fmt(cpuPercent, 1)} % of a core over ${fmt(cpuWindowS, 1)} s, ${fmt(pollsPerSecond, 0)} upstream polls/s, ${fmt(connectsPerSecond, 1)} new connections/s`);

    // The rest of the polling window with the API probe, then the jobs finish.
    apiProbe = startProbe(api);
    const p0 = performance.now();
    const probeFrom = Date.now();
    await until(windowEnd);
    const probeWindowS = (performance.now() - p0) / 1000;
    const cpuWithProbePercent = ((cpuMsOf(child.pid!) - c1) / (probeWindowS * 1000)) * 100;
    const finishingFrom = Date.now();
    log(`polling with the API probe: ${fmt(cpuWithProbePercent, 1)} % of a core over ${fmt(probeWindowS, 1)} s`);
    if (opts.profileDir && opts.profileFinishing) child.kill('SIGUSR2');
    for (;;) {
      const c = await counts();
      if (c.done >= jobs) break;
      if (Date.now() - firstFinish > durationMs * 3 + 120_000) throw new Error(`only ${c.done} of ${jobs} jobs finished`);
      await sleep(250);
    }
    if (opts.profileDir && opts.profileFinishing) child.kill('SIGUSR2');
    const samples = await apiProbe.stop();
    const probeErrors = samples.filter((q) => !q.ok).length;
    if (probeErrors) log(`API probe: ${probeErrors} of ${samples.length} queries failed`);
    const polling = samples.filter((q) => q.at >= probeFrom && q.at < finishingFrom).map((q) => q.ms);
    const finishing = samples.filter((q) => q.at >= finishingFrom).map((q) => q.ms);
    const rows = await sql<Array<{ provider_task_id: string; completed_at: Date; status: string }>>`select provider_task_id, completed_at, status from tasks`;
    const lags: number[] = [];
    for (const r of rows) {
      const t = emu.tasks.get(r.provider_task_id);
      if (!t || r.status !== 'COMPLETED') continue;
      lags.push(r.completed_at.getTime() - (t.createdAt + durationMs));
    }
    const final = await counts();

    // Baseline: the same polls by a bare loop, against jobs that do not finish meanwhile.
    emu.neverFinish = true;
    const ids = [...emu.tasks.keys()];
    const windowMs = Math.max(10_000, Math.min(20_000, intervalMs * 3));
    const skipped = { cpuPercent: NaN, pollsPerSecond: NaN };
    const connB = connections;
    const base = opts.noBaseline ? skipped : await baselineLoop('http', emu.url, ids, intervalMs, windowMs);
    if (!opts.noBaseline) log(`bare node:http loop: ${fmt(base.cpuPercent, 1)} % of a core, ${fmt(base.pollsPerSecond, 0)} polls/s, ${connections - connB} connections in all`);
    const viaFetch = opts.noBaseline ? skipped : await baselineLoop('fetch', emu.url, ids, intervalMs, windowMs);
    if (!opts.noBaseline) log(`bare fetch loop: ${fmt(viaFetch.cpuPercent, 1)} % of a core, ${fmt(viaFetch.pollsPerSecond, 0)} polls/s`);

    return {
      jobs,
      intervalMs,
      durationMs,
      cpuPercent,
      cpuWindowS,
      cpuWithProbePercent,
      probeWindowS,
      baselineCpuPercent: base.cpuPercent,
      baselinePollsPerSecond: base.pollsPerSecond,
      fetchCpuPercent: viaFetch.cpuPercent,
      pollsPerSecond,
      lagP50Ms: percentile(lags, 50),
      lagP99Ms: percentile(lags, 99),
      lagMaxMs: Math.max(...lags),
      slowestQueryFinishingMs: Math.max(0, ...finishing),
      queryP99FinishingMs: percentile(finishing, 99),
      slowestQueryPollingMs: Math.max(0, ...polling),
      queriesFinishing: finishing.length,
      queriesPolling: polling.length,
      probeErrors,
      maxInFlight,
      completed: final.completed,
      failed: final.failed,
    };
  } finally {
    apiProbe?.kill();
    clearInterval(trim);
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(15_000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await sql.end({ timeout: 1 }).catch(() => {});
    await emu.close().catch(() => {});
    await temp.drop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** `rounds` runs of one setting, one after the other, each on a fresh database and server, with its own baseline. */
export async function benchJobsRounds(opts: JobsOptions, rounds: number): Promise<JobsResult[]> {
  const runs: JobsResult[] = [];
  for (let i = 0; i < rounds; i++) {
    if (rounds > 1) (opts.log ?? console.log)(`round ${i + 1} of ${rounds}`);
    runs.push(await benchJobs(opts));
  }
  return runs;
}

const median = (xs: number[]) => percentile(xs, 50);
const list = (xs: number[], digits: number, unit = '') => xs.map((x) => `${fmt(x, digits)}${unit}`).join(', ');

/** One setting's lines: with several rounds, medians over rounds (each round's figures in brackets) and the worst lag and query. */
export function describeJobs(runs: JobsResult[]): string[] {
  const r = runs[0]!;
  const lagGoal = 2 * r.intervalMs + 2000;
  const n = runs.length;
  const of = (pick: (x: JobsResult) => number, digits: number, unit = '') =>
    n === 1 ? `${fmt(pick(r), digits)}${unit}` : `${fmt(median(runs.map(pick)), digits)}${unit} (median of ${n} rounds: ${list(runs.map(pick), digits, unit)})`;
  const worst = (pick: (x: JobsResult) => number) => Math.max(...runs.map(pick));
  const sum = (pick: (x: JobsResult) => number) => runs.reduce((t, x) => t + pick(x), 0);
  return [
    `${r.jobs} jobs of ${fmt(r.durationMs / 1000, 0)} s polled every ${fmt(r.intervalMs / 1000, 0)} s${n > 1 ? `, ${n} rounds` : ''}: ${sum((x) => x.completed)} completed, ${sum((x) => x.failed)} failed, at most ${Math.min(...runs.map((x) => x.maxInFlight))} in flight${n > 1 ? ' (in every round)' : ''}`,
    `CPU while polling, API idle: ${of((x) => x.cpuPercent, 1, ' %')} of a core (${fmt(median(runs.map((x) => x.pollsPerSecond)), 0)} polls/s over ${fmt(r.cpuWindowS, 0)} s); bare node:http poll loop ${of((x) => x.baselineCpuPercent, 1, ' %')} → ${of((x) => x.cpuPercent / x.baselineCpuPercent, 2, '×')} the baseline (bare fetch loop: ${of((x) => x.fetchCpuPercent, 1, ' %')})`,
    `CPU while polling with the API probe (tasks(first: 50) and stats alternately, 50 ms apart): ${of((x) => x.cpuWithProbePercent, 1, ' %')} over ${fmt(r.probeWindowS, 0)} s`,
    `finish → COMPLETED: p50 ${of((x) => x.lagP50Ms / 1000, 2, ' s')}, p99 ${of((x) => x.lagP99Ms / 1000, 2, ' s')}, max ${fmt(worst((x) => x.lagMaxMs) / 1000, 2)} s (goal: p99 ≤ ${fmt(lagGoal / 1000, 0)} s)`,
    `slowest API query while finishing: ${fmt(worst((x) => x.slowestQueryFinishingMs), 0)} ms${n > 1 ? ` (rounds: ${list(runs.map((x) => x.slowestQueryFinishingMs), 0, ' ms')})` : ''} (p99 ${of((x) => x.queryP99FinishingMs, 0, ' ms')}, ${sum((x) => x.queriesFinishing)} queries); while polling: ${fmt(worst((x) => x.slowestQueryPollingMs), 0)} ms (${sum((x) => x.queriesPolling)} queries)${sum((x) => x.probeErrors) ? `; ${sum((x) => x.probeErrors)} probe queries failed` : ''}`,
  ];
}

function argOf(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const profileFinishing = process.argv.includes('--cpu-prof-finishing');
  const profileDir = process.argv.includes('--cpu-prof') || profileFinishing ? path.join(ROOT, 'bench/profiles') : undefined;
  const opts: JobsOptions = { profileFinishing, jobs: argOf('jobs', 1000), intervalMs: argOf('interval', 2000), durationMs: argOf('duration', 60_000), profileDir, noBaseline: process.argv.includes('--no-baseline'), distDir: process.argv.includes('--dist') ? path.resolve(process.argv[process.argv.indexOf('--dist') + 1]!) : undefined };
  benchJobsRounds(opts, argOf('rounds', 1))
    .then((runs) => {
      for (const line of describeJobs(runs)) console.log(line);
    })
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
