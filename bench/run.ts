// `npm run bench`: every benchmark on PGlite and, when it answers, on a fresh
// database of the local Postgres (dropped afterwards). Prints a table and
// writes bench/RESULTS.md. Never part of `npm test`.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchClaim } from './claim.js';
import { benchE2e } from './e2e.js';
import { openBench, postgresAnswers, type Bench, type DbKind } from './harness.js';
import { benchImageCheck, describeImageCheck } from './image-check.js';
import { benchJobs, describeJobs, JOBS_RUNS } from './jobs.js';
import { benchListPage, describeMeasured } from './list-page.js';
import { benchMillion, describeMillion } from './million.js';
import { machine, printTable, rowsOf, writeResults, type KindResults } from './report.js';
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

/** `npm run bench -- image-check`: only the image check (no database); prints, writes nothing. */
async function imageCheckOnly(): Promise<void> {
  console.log(`reelay image check benchmark — ${machine()}`);
  const r = await step('image check', () => benchImageCheck());
  for (const line of describeImageCheck(r)) console.log(`  ${line}`);
}

/** `npm run bench -- million`: only the named benchmark(s), printed, RESULTS.md left alone. */
const only = process.argv.slice(2);
const wanted = (name: string) => only.length === 0 || only.includes(name);

async function runMillion(): Promise<string[] | undefined> {
  if (!(await postgresAnswers())) return undefined;
  console.log('\n[postgres] 1,000,000 tasks of one key');
  const t0 = now();
  const r = await benchMillion((line) => console.log(`  ${line}`));
  console.log(`  done in ${fmt((now() - t0) / 1000, 1)} s`);
  return describeMillion(r);
}

/** `npm run bench -- jobs`: one reelay process (dist/main.js) on Postgres with 1,000 and 10,000 upstream jobs in flight. */
async function runJobs(): Promise<string[] | undefined> {
  if (!(await postgresAnswers())) return undefined;
  console.log('\n[postgres] jobs in flight in one process');
  const lines: string[] = [];
  for (const run of JOBS_RUNS) {
    try {
      const r = await step(`${run.jobs} jobs polled every ${run.intervalMs / 1000} s`, () => benchJobs(run));
      lines.push(...describeJobs(r).map((l) => `- ${l}`));
    } catch (err) {
      lines.push(`- ${run.jobs} jobs: ERROR ${(err as Error).message}`);
    }
  }
  return lines;
}

async function main(): Promise<void> {
  if (process.argv.slice(2).includes('image-check')) return imageCheckOnly();
  if (only.length && only.every((name) => name === 'million')) {
    const lines = await runMillion();
    console.log(lines ? ['', ...lines].join('\n') : `no Postgres answers at ${ADMIN_URL}`);
    return;
  }
  if (only.length && only.every((name) => name === 'jobs')) {
    const lines = await runJobs();
    console.log(lines ? ['', ...lines].join('\n') : `no Postgres answers at ${ADMIN_URL}`);
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
  console.log('\n[no database]');
  const image = await step('4. image check', () => benchImageCheck()).catch((err: Error) => err);
  notes.push(...(image instanceof Error ? [`image check failed: ${image.message}`] : describeImageCheck(image)));
  const million = wanted('million') ? await runMillion().catch((err) => [`million: ERROR ${(err as Error).message}`]) : undefined;
  const jobs = wanted('jobs') ? await runJobs().catch((err) => [`jobs: ERROR ${(err as Error).message}`]) : undefined;

  const elapsed = (now() - t0) / 1000;
  console.log('');
  printTable(results.flatMap(rowsOf));
  if (million) console.log(['', ...million].join('\n'));
  if (jobs) console.log(['', ...jobs].join('\n'));
  writeResults(RESULTS, results, notes, elapsed, million, jobs);
  console.log(`\nwritten ${path.relative(process.cwd(), RESULTS)} (${fmt(elapsed, 0)} s in all)`);
  if (results.some((r) => r.error)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
