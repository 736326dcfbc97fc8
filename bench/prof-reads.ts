// Profiling aid (not a benchmark): serves an existing database (REELAY_BENCH_DATABASE_URL, e.g. one
// bench/million.ts kept with REELAY_BENCH_KEEP_DB=1) in this process and sends one read many times,
// printing p50/p95 (the reads of bench/million.ts), so `node --cpu-prof --import tsx bench/prof-reads.ts <name>` profiles the server.
// Usage: REELAY_BENCH_DATABASE_URL=postgres://… npx tsx bench/prof-reads.ts <full|hour|day|page|queued|created> [samples]
import { openBench } from './harness.js';
import { COUNT_QUERY, FULL_QUERY, PAGE_QUERY, QUEUED_QUERY, SERIES_QUERY } from './million.js';
import { fmt, percentile, timed } from './stats.js';

const READS: Record<string, { query: string; variables?: Record<string, unknown> }> = {
  full: { query: FULL_QUERY },
  hour: { query: SERIES_QUERY, variables: { bucket: 'HOUR', last: 168 } },
  day: { query: SERIES_QUERY, variables: { bucket: 'DAY', last: 90 } },
  page: { query: PAGE_QUERY, variables: { after: null } },
  queued: { query: QUEUED_QUERY },
  created: { query: COUNT_QUERY, variables: { filter: { createdAfter: new Date(Date.now() - 86_400_000).toISOString() } } },
};

const name = process.argv[2] ?? 'full';
const samples = Number(process.argv[3] ?? 200);
const read = READS[name];
if (!read || !process.env.REELAY_BENCH_DATABASE_URL) {
  console.error(`usage: REELAY_BENCH_DATABASE_URL=… npx tsx bench/prof-reads.ts <${Object.keys(READS).join('|')}> [samples]`);
  process.exit(2);
}
const bench = await openBench('postgres');
try {
  for (let i = 0; i < 10; i++) await bench.gql(read.query, read.variables);
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) ms.push(await timed(() => bench.gql(read.query, read.variables)));
  console.log(`${name}: p50 ${fmt(percentile(ms, 50))} ms, p95 ${fmt(percentile(ms, 95))} ms over ${samples}`);
} finally {
  await bench.close();
}
