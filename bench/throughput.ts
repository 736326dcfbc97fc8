// Benchmark: reelay's own cost per request next to a bare server (Postgres only).
// reelay runs as `npm start` runs it (compiled dist/, its own process, `--role
// api` so nothing renders, per-key limits off, a stored API key, default log
// level); the baseline is bench/bare-server.mjs (graphql-yoga + postgres.js,
// one INSERT per create, one keyset SELECT per page) in its own process on the
// same database. Both are driven by the same closed-loop load generator with
// 10 kept-alive connections, interleaved in rounds; medians over the rounds.
// Then the idle RSS of a freshly started `npm start` server (role all) next to
// a freshly started bare server, on a migrated database with no work in it.
//   npm run bench -- throughput
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { createApiKey } from '../src/db/api-keys.js';
import { openDatabase } from '../src/db/client.js';
import { createTempDatabase, type TempDatabase } from '../test/support/postgres.js';
import { load, type LoadResult } from './load.js';
import { npmStartFlags } from './npm-start.js';
import { fmt, median, percentile, sleep } from './stats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CONNECTIONS = 10;
export const LIST_TASKS = 20_000;
export const PAGE = 50;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? 4000);
const WARMUP_MS = 1500;
/** How long a started server is left alone before its RSS is read. */
const IDLE_MS = 5000;
const OWNER = 'bench';

const LIST_QUERY = `query Page($first: Int!) { tasks(first: $first) { edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }`;
const CREATE_REELAY = `mutation Create($input: CreateVideoTaskInput!) { createVideoTask(input: $input) { __typename ... on CreateVideoTaskSuccess { task { id status } } } }`;
const CREATE_BARE = `mutation Create($input: CreateInput!) { createVideoTask(input: $input) { task { id status } } }`;

export interface Throughput {
  perSecond: number;
  /** CPU time of the server process per request (user + system), ms: steadier than throughput on a busy machine. */
  cpuMsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  runs: number[];
}

export interface Comparison {
  reelay: Throughput;
  baseline: Throughput;
  ratio: number;
  p99Ratio: number;
}

export interface ThroughputResult {
  create?: Comparison;
  list?: Comparison;
  rss?: { reelayMb: number; baselineMb: number; pgliteMb: number };
}

/** Parts to run (all by default); BENCH_THROUGHPUT=list,create,rss picks some while working on one. */
const PARTS = new Set((process.env.BENCH_THROUGHPUT ?? 'list,create,rss').split(','));

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

interface Server {
  proc: ChildProcess;
  url: string;
  stderr: string[];
  stop(): Promise<void>;
}

async function waitHealthy(url: string, proc: ChildProcess, stderr: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited (${proc.exitCode}): ${stderr.join('').slice(-2000)}`);
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  throw new Error(`server at ${url} did not come up within 60 s: ${stderr.join('').slice(-500) || '(nothing on stderr)'}`);
}

async function startProcess(args: string[], env: Record<string, string>, healthPath: string, port: number): Promise<Server> {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
  const base = `http://127.0.0.1:${port}`;
  // A server that never came up is not left running.
  await waitHealthy(base + healthPath, proc, stderr).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return {
    proc,
    url: `${base}/graphql`,
    stderr,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

function startReelay(databaseUrl: string | undefined, dataDir: string, role: 'api' | 'all', port: number): Promise<Server> {
  const env: Record<string, string> = { REELAY_DATA_DIR: dataDir, REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '0', LOG_LEVEL: 'info' };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  // REELAY_THROUGHPUT_NODE_ARGS="--cpu-prof --cpu-prof-dir=…" profiles reelay's process (before `npm start`'s own flags).
  const extra = (process.env.REELAY_THROUGHPUT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  return startProcess([...extra, ...npmStartFlags(), 'dist/main.js', ...(role === 'api' ? ['--role', 'api'] : [])], env, '/health', port);
}

function startBare(databaseUrl: string, port: number): Promise<Server> {
  // The runtime settings reelay runs with (npm start's node flags, production mode: src/production-mode.ts),
  // so the ratio compares the work of the two servers, not V8's young-generation size or graphql's mode.
  return startProcess([...npmStartFlags(), path.join(ROOT, 'bench/bare-server.mjs')], { DATABASE_URL: databaseUrl, BARE_OWNER: OWNER, NODE_ENV: 'production' }, '/graphql?query=%7B__typename%7D', port);
}

/** CPU time (user + system) a process has used so far, ms. */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface Run extends LoadResult {
  cpuMs: number;
}

/** A load run, with the CPU time the server spent on it. */
async function measured(s: Server, fn: () => Promise<LoadResult>): Promise<Run> {
  const before = cpuMs(s.proc.pid!);
  const r = await fn();
  return { ...r, cpuMs: cpuMs(s.proc.pid!) - before };
}

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return kb / 1024;
}

function summarize(runs: Run[]): Throughput {
  const all = runs.flatMap((r) => r.latencies);
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  return { perSecond: median(runs.map((r) => r.perSecond)), cpuMsPerRequest: runs.reduce((n, r) => n + r.cpuMs, 0) / requests, p50Ms: percentile(all, 50), p99Ms: median(runs.map((r) => percentile(r.latencies, 99))), runs: runs.map((r) => r.perSecond) };
}

/** Interleaved rounds of `fn` against both servers (order alternating), after a warm-up of each. */
async function compare(servers: { reelay: Server; bare: Server }, run: (s: Server, which: 'reelay' | 'bare', ms: number) => Promise<LoadResult>) {
  await run(servers.bare, 'bare', WARMUP_MS);
  await run(servers.reelay, 'reelay', WARMUP_MS);
  const out: { reelay: Run[]; bare: Run[] } = { reelay: [], bare: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const order: Array<'reelay' | 'bare'> = i % 2 ? ['reelay', 'bare'] : ['bare', 'reelay'];
    for (const which of order) out[which].push(await measured(servers[which], () => run(servers[which], which, RUN_MS)));
  }
  const reelay = summarize(out.reelay);
  const baseline = summarize(out.bare);
  return { reelay, baseline, ratio: reelay.perSecond / baseline.perSecond, p99Ratio: reelay.p99Ms / baseline.p99Ms };
}

function describe(c: Comparison): string {
  const one = (t: Throughput) => `${fmt(t.perSecond, 0)}/s p99 ${fmt(t.p99Ms)} ms cpu ${fmt(t.cpuMsPerRequest, 3)} ms/req`;
  return `reelay ${one(c.reelay)}; bare ${one(c.baseline)} → ${fmt(c.ratio)}×, p99 ${fmt(c.p99Ratio)}×`;
}

async function prepare(temp: TempDatabase): Promise<string> {
  const database = await openDatabase({ databaseUrl: temp.url, maxConnections: 2 }); // applies the migrations
  try {
    const key = await createApiKey(database.db, OWNER);
    await database.db.execute(sql`
      insert into tasks (owner, provider_id, prompt, status, created_at, updated_at)
      select ${OWNER}, 'local', 'bench task ' || i,
             (array['COMPLETED','COMPLETED','COMPLETED','FAILED','CANCELLED','QUEUED','PROCESSING'])[1 + i % 7]::task_status,
             now() - make_interval(secs => ${LIST_TASKS} - i), now() - make_interval(secs => ${LIST_TASKS} - i)
      from generate_series(1, ${LIST_TASKS}) as i`);
    // After the indexes built in the background (an analyze next to `create index concurrently` can deadlock).
    await database.maintenance;
    await database.db.execute(sql`analyze`);
    return key;
  } finally {
    await database.close();
  }
}

export async function benchThroughput(log: (line: string) => void = console.log): Promise<ThroughputResult> {
  const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  const temp = await createTempDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-bench-tp-'));
  const started: Server[] = [];
  try {
    const key = await prepare(temp);
    const reelay = await startReelay(temp.url, dataDir, 'api', await freePort());
    started.push(reelay);
    const bare = await startBare(temp.url, await freePort());
    started.push(bare);
    const auth = { authorization: `Bearer ${key}` };

    const result: ThroughputResult = {};
    const listBody = JSON.stringify({ query: LIST_QUERY, variables: { first: PAGE } });
    const fullPage = (b: string) => !b.includes('"errors"') && b.split('"cursor"').length === PAGE + 1;
    if (PARTS.has('list')) {
      result.list = await compare({ reelay, bare }, (s, which, ms) =>
        load({ url: s.url, body: () => listBody, headers: which === 'reelay' ? auth : {}, connections: CONNECTIONS, durationMs: ms, accept: fullPage }),
      );
      log(`     list   ${describe(result.list)}`);
    }

    if (PARTS.has('create')) {
      result.create = await compare({ reelay, bare }, (s, which, ms) => {
        const query = which === 'reelay' ? CREATE_REELAY : CREATE_BARE;
        return load({
          url: s.url,
          body: (i) => JSON.stringify({ query, variables: { input: { prompt: `bench create ${which} ${i}` } } }),
          headers: which === 'reelay' ? auth : {},
          connections: CONNECTIONS,
          durationMs: ms,
          accept: (b) => b.includes('"QUEUED"'),
        });
      });
      log(`     create ${describe(result.create)}`);
    }
    for (const s of started.splice(0)) await s.stop();
    if (!PARTS.has('rss')) return result;

    // Idle RSS: fresh processes, nothing asked of them but /health, on a
    // migrated database with no work in it. (The list and create parts leave
    // thousands of QUEUED and PROCESSING `local` tasks behind, which a role-all
    // server would start rendering with ffmpeg at once: busy, not idle.)
    const idleDb = await createTempDatabase();
    const idleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-bench-idle-'));
    let reelayMb: number;
    let baselineMb: number;
    try {
      const migrated = await openDatabase({ databaseUrl: idleDb.url, maxConnections: 2 }); // applies the migrations, as on a restart
      await migrated.maintenance;
      await migrated.close();
      const idleReelay = await startReelay(idleDb.url, idleDir, 'all', await freePort());
      started.push(idleReelay);
      const idleBare = await startBare(idleDb.url, await freePort());
      started.push(idleBare);
      await sleep(IDLE_MS);
      reelayMb = rssMb(idleReelay.proc.pid!);
      baselineMb = rssMb(idleBare.proc.pid!);
      for (const s of started.splice(0)) await s.stop();
    } finally {
      for (const s of started.splice(0)) await s.stop().catch(() => {});
      fs.rmSync(idleDir, { recursive: true, force: true });
      await idleDb.drop().catch(() => {});
    }
    // For reference: the embedded database (no DATABASE_URL), what a bare `npm start` runs.
    const pgliteDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-bench-pglite-'));
    let pgliteMb = NaN;
    try {
      const p = await startReelay(undefined, pgliteDir, 'all', await freePort());
      started.push(p);
      await sleep(IDLE_MS);
      pgliteMb = rssMb(p.proc.pid!);
      for (const s of started.splice(0)) await s.stop();
    } catch (err) {
      // Only a reference figure: report the Postgres one even if this one cannot be had.
      log(`     idle RSS on PGlite not measured: ${(err as Error).message}`);
    } finally {
      fs.rmSync(pgliteDir, { recursive: true, force: true });
    }
    log(`     idle RSS: reelay ${fmt(reelayMb, 0)} MB (postgres), ${fmt(pgliteMb, 0)} MB (pglite); bare ${fmt(baselineMb, 0)} MB`);
    result.rss = { reelayMb, baselineMb, pgliteMb };
    return result;
  } finally {
    for (const s of started) await s.stop().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
    await temp.drop().catch(() => {});
  }
}

/** One line per figure, for the console and RESULTS.md. */
export function describeThroughput(r: ThroughputResult): string[] {
  const lines: string[] = [];
  const one = (t: Throughput) => `${fmt(t.perSecond, 0)}/s (runs ${t.runs.map((x) => fmt(x, 0)).join(', ')}), p99 ${fmt(t.p99Ms)} ms, ${fmt(t.cpuMsPerRequest, 3)} ms CPU/request`;
  if (r.create) lines.push(`throughput: createVideoTask, ${CONNECTIONS} connections: reelay ${one(r.create.reelay)}; bare ${one(r.create.baseline)} → ${fmt(r.create.ratio)}×, p99 ${fmt(r.create.p99Ratio)}×`);
  if (r.list) lines.push(`throughput: tasks(first: ${PAGE}) over ${LIST_TASKS.toLocaleString('en-US')} tasks, ${CONNECTIONS} connections: reelay ${one(r.list.reelay)}; bare keyset SELECT ${one(r.list.baseline)} → ${fmt(r.list.ratio)}×`);
  if (r.rss) lines.push(`idle RSS (${IDLE_MS / 1000} s after start): \`npm start\` server on Postgres ${fmt(r.rss.reelayMb, 0)} MB (on PGlite ${fmt(r.rss.pgliteMb, 0)} MB); bare yoga + postgres.js ${fmt(r.rss.baselineMb, 0)} MB`);
  return lines;
}

// Run alone: `npx tsx bench/throughput.ts`.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchThroughput().then(
    (r) => console.log(JSON.stringify(r, (k, v) => (k === 'runs' ? (v as number[]).map((x) => Math.round(x)) : v), 2)),
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
