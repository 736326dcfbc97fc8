// `npm run bench`: every benchmark on PGlite and, when it answers, on a fresh
// database of the local Postgres (dropped afterwards). Prints a table and
// writes bench/RESULTS.md. Never part of `npm test`.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchClaim } from './claim.js';
import { benchE2e } from './e2e.js';
import { benchJobs, describeJobs, JOBS_RUNS } from './jobs.js';
import { openBench, postgresAnswers, type Bench, type DbKind } from './harness.js';
import { benchListPage, describeMeasured } from './list-page.js';
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

// `npm run bench -- jobs` (or any of these names) runs just those benchmarks and prints them; RESULTS.md is written by full runs only.
const NAMES = ['list-page', 'claim', 'e2e', 'jobs'] as const;
const only = process.argv.slice(2).filter((a) => (NAMES as readonly string[]).includes(a));
const wanted = (name: (typeof NAMES)[number]) => only.length === 0 || only.includes(name);

async function runKind(kind: DbKind, notes: string[]): Promise<KindResults> {
  console.log(`\n[${kind}]`);
  const results: KindResults = { kind };
  let b: Bench | undefined;
  try {
    b = await openBench(kind);
    const bench = b;
    if (wanted('list-page')) {
      results.listPage = await step('1. task list page', () => benchListPage(bench));
      console.log(`     reelay   ${describeMeasured(results.listPage.reelay)}\n     baseline ${describeMeasured(results.listPage.baseline)}`);
    }
    if (wanted('claim')) results.claim = await step('2. claim throughput', () => benchClaim(bench));
    if (wanted('e2e')) results.e2e = await step('3. end-to-end throughput', () => benchE2e(bench));
  } catch (err) {
    results.error = (err as Error).message;
    console.error(`\n  ${kind} failed: ${(err as Error).stack ?? err}`);
  } finally {
    if (b?.retries) notes.push(`${kind}: ${b.retries} HTTP request(s) resent after a kept-alive socket was closed under them`);
    await b?.close();
  }
  return results;
}

async function main(): Promise<void> {
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
  if (wanted('list-page') || wanted('claim') || wanted('e2e')) for (const kind of kinds) results.push(await runKind(kind, notes));
  // Jobs in flight: one reelay process on Postgres (the setting), as a child process.
  const jobs: string[] = [];
  if (wanted('jobs') && kinds.includes('postgres')) {
    console.log('\n[jobs in flight, postgres]');
    for (const run of JOBS_RUNS) {
      try {
        const r = await step(`4. ${run.jobs} jobs polled every ${run.intervalMs / 1000} s`, () => benchJobs(run));
        jobs.push(...describeJobs(r).map((l) => `- ${l}`), '');
      } catch (err) {
        jobs.push(`- ${run.jobs} jobs: ERROR ${(err as Error).message}`, '');
        process.exitCode = 1;
      }
    }
    console.log(jobs.join('\n'));
  }

  const elapsed = (now() - t0) / 1000;
  console.log('');
  if (results.length) printTable(results.flatMap(rowsOf));
  if (only.length) {
    console.log(`\nonly ${only.join(', ')}: ${path.relative(process.cwd(), RESULTS)} not written (${fmt(elapsed, 0)} s in all)`);
  } else {
    const section = jobs.length
      ? ['4. Jobs in flight (`bench/jobs.ts`): one reelay process (`dist/main.js`, --role all) on Postgres, a LightX2V emulator reporting progress on every poll, N QUEUED tasks seeded by SQL; ' +
          'CPU of the reelay process (/proc) while it only polls; finish → COMPLETED from the emulator\'s finish time; API queries (`tasks(first: 50)`, `stats`) one after the other while the jobs finish. ' +
          'Baseline: a bare fetch loop doing the same polls in its own process.', '', ...jobs]
      : [];
    writeResults(RESULTS, results, notes, elapsed, section);
    console.log(`\nwritten ${path.relative(process.cwd(), RESULTS)} (${fmt(elapsed, 0)} s in all)`);
  }
  if (results.some((r) => r.error)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
