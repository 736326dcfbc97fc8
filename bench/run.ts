// `npm run bench`: every benchmark on PGlite and, when it answers, on a fresh
// database of the local Postgres (dropped afterwards). Prints a table and
// writes bench/RESULTS.md. Never part of `npm test`.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchClaim } from './claim.js';
import { benchFanout, describeFanout } from './fanout.js';
import { benchE2e } from './e2e.js';
import { openBench, postgresAnswers, type Bench, type DbKind } from './harness.js';
import { benchImageCheck, describeImageCheck } from './image-check.js';
import { benchJobsRounds, describeJobs, JOBS_RUNS } from './jobs.js';
import { benchListPage, describeMeasured } from './list-page.js';
import { benchMillion, describeMillion } from './million.js';
import { machine, printTable, rowsOf, writeResults, type KindResults } from './report.js';
import { benchThroughput, describeThroughput } from './throughput.js';
import { fmt, now } from './stats.js';
import { ADMIN_URL } from '../test/support/postgres.js';

const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'RESULTS.md');

async function step<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = now();
  process.stdout.write(`  ${label} … `);
  const out = await fn();
  console.log(`done in ${fmt((now() - t0) / 1000, 1)} s`);
  return out;
}

async function runKind(kind: DbKind, notes: string[]): Promise<KindResults> {
  console.log(`\n[${kind}]`);
  const results: KindResults = { kind };
  let b: Bench | undefined;
  try {
    b = await openBench(kind);
    const bench = b;
    results.listPage = await step('1. task list page', () => benchListPage(bench));
    console.log(`     reelay   ${describeMeasured(results.listPage.reelay)}\n     baseline ${describeMeasured(results.listPage.baseline)}`);
    results.claim = await step('2. claim throughput', () => benchClaim(bench));
    results.e2e = await step('3. end-to-end throughput', () => benchE2e(bench));
  } catch (err) {
    results.error = (err as Error).message;
    console.error(`\n  ${kind} failed: ${(err as Error).stack ?? err}`);
  } finally {
    if (b?.retries) notes.push(`${kind}: ${b.retries} HTTP request(s) resent after a kept-alive socket was closed under them`);
    await b?.close();
  }
  return results;
}

/** A benchmark with its own set-up, reported as its own section of RESULTS.md. */
interface Section {
  title: string;
  run: () => Promise<string[]>;
}

const sections: Record<string, Section> = {
  'image-check': {
    title: 'Image check (no database; bench/image-check.ts, `npm run bench -- image-check`)',
    run: async () => describeImageCheck(await step('image check', () => benchImageCheck())),
  },
  million: {
    title: '1,000,000 tasks of one key (Postgres; bench/million.ts, `npm run bench -- million`)',
    run: async () => {
      if (!(await postgresAnswers())) return [`SKIPPED, nothing answered at ${ADMIN_URL}`];
      console.log('\n[postgres] 1,000,000 tasks of one key');
      return describeMillion(await benchMillion((line) => console.log(`  ${line}`)));
    },
  },
  jobs: {
    title: 'Jobs in flight in one process (Postgres; bench/jobs.ts, `npm run bench -- jobs`)',
    run: async () => (await runJobs()) ?? [`SKIPPED, nothing answered at ${ADMIN_URL}`],
  },
  fanout: {
    title: 'Fan-out against a bare graphql-ws + in-memory pubsub server (Postgres; bench/fanout.ts, `npm run bench -- fanout`)',
    run: async () => {
      if (!(await postgresAnswers())) return [`SKIPPED, nothing answered at ${ADMIN_URL}`];
      console.log('\n[postgres] fan-out vs a bare graphql-ws + in-memory pubsub server');
      return (await benchFanout({ log: (line) => console.log(`  ${line}`) })).map(describeFanout);
    },
  },
  throughput: {
    title: 'Throughput and idle memory against a bare graphql-yoga + postgres.js server (Postgres; bench/throughput.ts, `npm run bench -- throughput`)',
    run: async () => {
      if (!(await postgresAnswers())) return [`SKIPPED, nothing answered at ${ADMIN_URL}`];
      console.log('\n[postgres] throughput and idle RSS vs a bare graphql-yoga + postgres.js server');
      return describeThroughput(await benchThroughput((line) => console.log(line)));
    },
  },
};

async function runSection(name: string): Promise<{ title: string; lines: string[] }> {
  const s = sections[name]!;
  const t0 = now();
  const lines = await s.run().catch((err: unknown) => [`ERROR ${(err as Error).stack ?? err}`]);
  console.log(`  ${name} done in ${fmt((now() - t0) / 1000, 1)} s`);
  return { title: s.title, lines };
}

/** `npm run bench -- jobs`: one reelay process (dist/main.js) on Postgres with 1,000 and 10,000 upstream jobs in flight. */
async function runJobs(): Promise<string[] | undefined> {
  if (!(await postgresAnswers())) return undefined;
  console.log('\n[postgres] jobs in flight in one process');
  const lines: string[] = [];
  for (const run of JOBS_RUNS) {
    try {
      const runs = await step(`${run.jobs} jobs polled every ${run.intervalMs / 1000} s`, () => benchJobsRounds(run, run.rounds));
      lines.push(...describeJobs(runs).map((l) => `- ${l}`));
    } catch (err) {
      lines.push(`- ${run.jobs} jobs: ERROR ${(err as Error).message}`);
    }
  }
  return lines;
}

/**
 * `npm run bench`: everything, written to RESULTS.md. `npm run bench -- <name> …`
 * with names of sections only: those, printed, RESULTS.md left alone.
 */
async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !sections[n]);
  if (unknown.length) throw new Error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(sections).join(', ')}`);
  if (only.length) {
    console.log(`reelay benchmarks — ${machine()}`);
    for (const name of only) {
      const r = await runSection(name);
      console.log(['', `## ${r.title}`, '', ...r.lines].join('\n'));
    }
    return;
  }
  const t0 = now();
  console.log(`reelay benchmarks — ${machine()}`);
  const load = os.loadavg().map((l) => l.toFixed(2)).join(', ');
  const notes: string[] = [`load average at start: ${load} (other work on the machine widens the spread between runs)`];
  const kinds: DbKind[] = ['pglite'];
  if (await postgresAnswers()) {
    kinds.push('postgres');
    notes.push(`postgres: a fresh temporary database on ${ADMIN_URL.replace(/\/[^/]*$/, '')}, dropped afterwards; pglite: in memory, same process`);
  } else {
    notes.push(`postgres: SKIPPED, nothing answered at ${ADMIN_URL}`);
    console.log(`\nno Postgres answers at ${ADMIN_URL}: only PGlite is measured`);
  }
  const results: KindResults[] = [];
  for (const kind of kinds) results.push(await runKind(kind, notes));
  const extra: Array<{ title: string; lines: string[] }> = [];
  for (const name of Object.keys(sections)) extra.push(await runSection(name));

  const elapsed = (now() - t0) / 1000;
  console.log('');
  printTable(results.flatMap(rowsOf));
  for (const r of extra) console.log(['', `## ${r.title}`, '', ...r.lines].join('\n'));
  writeResults(RESULTS, results, notes, elapsed, extra);
  console.log(`\nwritten ${path.relative(process.cwd(), RESULTS)} (${fmt(elapsed, 0)} s in all)`);
  if (results.some((r) => r.error)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
