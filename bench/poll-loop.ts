// Baseline of bench/jobs.ts: the bare cost of the upstream polls themselves.
// A separate process (so its CPU is its own) that polls every task of an
// upstream emulator at the interval with plain fetch and JSON.parse, nothing
// else, and prints its CPU use over the window as one JSON line.
// Usage: tsx bench/poll-loop.ts <statusUrlPrefix> <ids,comma,separated-file> <intervalMs> <windowMs>
import fs from 'node:fs';

const [prefix, idsFile, intervalArg, windowArg] = process.argv.slice(2);
const ids = fs.readFileSync(idsFile!, 'utf8').split('\n').filter(Boolean);
const interval = Number(intervalArg);
const windowMs = Number(windowArg);
let polls = 0;
let errors = 0;
let running = true;

async function pollForever(id: string, offset: number): Promise<void> {
  await new Promise((r) => setTimeout(r, offset));
  while (running) {
    const t0 = Date.now();
    try {
      const res = await fetch(`${prefix}${encodeURIComponent(id)}/status`);
      JSON.parse(await res.text());
      polls++;
    } catch {
      errors++;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, interval - (Date.now() - t0))));
  }
}

// Spread the tasks over one interval, like jobs submitted over time.
ids.forEach((id, i) => void pollForever(id, (i / ids.length) * interval));
// Measure after one full interval, once every loop runs.
await new Promise((r) => setTimeout(r, interval + 500));
const c0 = process.cpuUsage();
const t0 = performance.now();
const p0 = polls;
await new Promise((r) => setTimeout(r, windowMs));
const c1 = process.cpuUsage(c0);
const wall = performance.now() - t0;
running = false;
console.log(JSON.stringify({ cpuPercent: ((c1.user + c1.system) / 1000 / wall) * 100, pollsPerSecond: ((polls - p0) / wall) * 1000, errors }));
process.exit(0);
