// Turns the measurements into a stdout table and bench/RESULTS.md.
import fs from 'node:fs';
import os from 'node:os';
import type { ClaimResult } from './claim.js';
import { BATCH, QUEUED_TASKS } from './claim.js';
import type { E2eResult } from './e2e.js';
import { CLIENTS, E2E_TASKS, RUNNER_CONCURRENCY } from './e2e.js';
import type { ListPageResult } from './list-page.js';
import { EVENTS_PER_TASK, TASKS } from './list-page.js';
import { fmt } from './stats.js';

export interface KindResults {
  kind: string;
  listPage?: ListPageResult;
  claim?: ClaimResult;
  e2e?: E2eResult;
  error?: string;
}

export interface Row {
  kind: string;
  bench: string;
  reelay: string;
  baseline: string;
  ratio: string;
}

const list = (xs: number[]) => xs.map((x) => fmt(x, 0)).join(', ');

export function rowsOf(r: KindResults): Row[] {
  const rows: Row[] = [];
  if (r.listPage) {
    const l = r.listPage;
    rows.push({
      kind: r.kind,
      bench: '1. task list page (50 + events + queuePosition)',
      reelay: `${fmt(l.reelay.medianMs)} ms median, ${fmt(l.reelay.p95Ms)} ms p95 → ${fmt(l.reelay.perSecond, 1)} pages/s`,
      baseline: `${fmt(l.baseline.medianMs)} ms median, ${fmt(l.baseline.p95Ms)} ms p95 → ${fmt(l.baseline.perSecond, 1)} pages/s (N+1)`,
      ratio: `${fmt(l.ratio)}×`,
    });
    rows.push({
      kind: r.kind,
      bench: '   reference: batched SQL, no HTTP/GraphQL',
      reelay: '',
      baseline: `${fmt(l.reference.medianMs)} ms median, ${fmt(l.reference.p95Ms)} ms p95 → ${fmt(l.reference.perSecond, 1)} pages/s`,
      ratio: `reelay ${fmt(l.reelay.perSecond / l.reference.perSecond)}× of it`,
    });
  }
  if (r.claim) {
    const c = r.claim;
    rows.push({
      kind: r.kind,
      bench: `2. claim throughput (${QUEUED_TASKS} tasks, batches of ${BATCH})`,
      reelay: `${fmt(c.reelayMedian, 0)} tasks/s (runs: ${list(c.reelay)})`,
      baseline: `${fmt(c.baselineMedian, 0)} tasks/s (runs: ${list(c.baseline)})`,
      ratio: `${fmt(c.ratio)}×`,
    });
  }
  if (r.e2e) {
    const e = r.e2e;
    rows.push({
      kind: r.kind,
      bench: `3. end-to-end (${E2E_TASKS} tasks created → COMPLETED)`,
      reelay: `${fmt(e.reelayMedian, 1)} tasks/s (runs: ${list(e.reelay)})`,
      baseline: `${fmt(e.baselineMedian, 1)} tasks/s created (runs: ${list(e.baseline)})`,
      ratio: `${fmt(e.ratio)}× (+${fmt(e.overheadMsPerTask)} ms/task)`,
    });
  }
  if (r.error) rows.push({ kind: r.kind, bench: 'ERROR', reelay: r.error, baseline: '', ratio: '' });
  return rows;
}

export function printTable(rows: Row[]): void {
  const cols: Array<keyof Row> = ['kind', 'bench', 'reelay', 'baseline', 'ratio'];
  const width = (c: keyof Row) => Math.max(c.length, ...rows.map((r) => r[c].length));
  const line = (r: Record<keyof Row, string>) => cols.map((c) => r[c].padEnd(width(c))).join(' | ');
  console.log(line({ kind: 'db', bench: 'benchmark', reelay: 'reelay', baseline: 'baseline', ratio: 'ratio' }));
  console.log(cols.map((c) => '-'.repeat(width(c))).join('-|-'));
  for (const r of rows) console.log(line(r));
}

export function machine(): string {
  const cpus = os.cpus();
  return `node ${process.version}, ${cpus.length} CPUs (${cpus[0]?.model.trim() ?? 'unknown'}), ${os.platform()} ${os.release()}, ${Math.round(os.totalmem() / 1024 ** 3)} GiB RAM`;
}

export function writeResults(file: string, results: KindResults[], notes: string[], elapsedS: number, sections: Array<{ title: string; lines: string[] }> = []): void {
  const rows = results.flatMap(rowsOf);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const md = [
    '# Benchmark results',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${machine()}`,
    `- command: \`npm run bench\` (took ${fmt(elapsedS, 0)} s); what each benchmark measures: [README.md](README.md)`,
    ...notes.map((n) => `- ${n}`),
    '',
    '**How to read it:** every ratio is reelay ÷ its baseline measured in the same run on the same data, as throughput ' +
      '(> 1× means reelay is faster, < 1× slower); compare ratios across runs and machines, not absolute numbers.',
    '',
    '| db | benchmark | reelay | baseline | ratio |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${[r.kind, r.bench.trim(), r.reelay, r.baseline, r.ratio].map(esc).join(' | ')} |`),
    '',
    'Setup per database:',
    '',
    `1. ${TASKS} tasks × ${EVENTS_PER_TASK} events seeded with Drizzle, half QUEUED; \`tasks(first: 50) { edges { node { id status events { status message } queuePosition } } }\` ` +
      'over HTTP to the real server vs. Drizzle N+1 (page query, then per task its events and, if QUEUED, its queue position). ' +
      'Samples interleaved in 3 rounds; median and p95 over all samples. The reference row is the same three batched queries the DataLoaders run, without HTTP/GraphQL.',
    `2. ${QUEUED_TASKS} QUEUED tasks claimed ${BATCH} at a time until none is left, claimed tasks completed after each batch (untimed, same for both); ` +
      'only the time inside the claim calls counts. Median of 3 repetitions, each on freshly seeded data.',
    `3. ${E2E_TASKS} \`createVideoTask\` mutations from ${CLIENTS} concurrent clients; the Runner (concurrency ${RUNNER_CONCURRENCY}) with an instant fake provider ` +
      'completes them (result stored and probed); time until all are COMPLETED vs. the same mutations with no runner. Median of 3 repetitions. ' +
      'ms/task = extra wall-clock time per task the runner adds.',
    '',
    ...sections.flatMap((s) => [`## ${s.title}`, '', ...s.lines, '']),
  ].join('\n');
  fs.writeFileSync(file, md);
}
