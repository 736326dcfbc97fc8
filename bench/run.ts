// `npm run bench`: every benchmark on PGlite and, when it answers, on a fresh
// database of the local Postgres (dropped afterwards). Prints a table and
// writes bench/RESULTS.md. Never part of `npm test`.
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchClaim } from './claim.js';
import { benchE2e } from './e2e.js';
import { benchFanout, describeFanout } from './fanout.js';
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

/** `npm run bench -- fanout`: only the fan-out rows (Postgres), printed, RESULTS.md left alone. */
async function onlyFanout(): Promise<void> {
  console.log(`reelay fan-out benchmark — ${machine()}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(', ')}`);
  const rows = await benchFanout({ log: (line) => console.log(line) });
  console.log('');
  for (const r of rows) console.log(describeFanout(r));
}

async function main(): Promise<void> {
  if (process.argv.slice(2).includes('fanout')) return onlyFanout();
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
  if (kinds.includes('postgres')) {
    // Not yet part of RESULTS.md's table: printed, and added to the notes.
    console.log('\n[fan-out, postgres]');
    try {
      for (const r of await benchFanout({ log: (line) => console.log(`  ${line}`) })) notes.push(`fan-out: ${describeFanout(r)}`);
    } catch (err) {
      notes.push(`fan-out failed: ${(err as Error).message}`);
    }
  }

  const elapsed = (now() - t0) / 1000;
  console.log('');
  printTable(results.flatMap(rowsOf));
  writeResults(RESULTS, results, notes, elapsed);
  console.log(`\nwritten ${path.relative(process.cwd(), RESULTS)} (${fmt(elapsed, 0)} s in all)`);
  if (results.some((r) => r.error)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
