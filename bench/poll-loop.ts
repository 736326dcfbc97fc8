// Baseline of bench/jobs.ts: the bare cost of the upstream polls themselves.
// A separate process (so its CPU is its own) that polls every task of an
// upstream emulator at the interval with plain fetch and JSON.parse, nothing
// else, and prints its CPU use over the window as one JSON line.
// Usage: tsx bench/poll-loop.ts <fetch|http> <statusUrlPrefix> <file of ids, one a line> <intervalMs> <windowMs>
// `fetch`: what a plain implementation would use; `http`: node:http with kept-alive connections reused (the cheapest).
import fs from 'node:fs';
import http from 'node:http';

const [mode, prefix, idsFile, intervalArg, windowArg] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
// Node's agent never reuses a socket of a server announcing `Keep-Alive: timeout=1` (it keeps one
// a second less than announced), as the emulator does: every poll would connect anew, the most
// expensive part of a poll. Kept half a second here, as reelay's http-get does, so the baseline is
// the cheapest loop node:http can do and the ratio shows reelay's own work per poll.
(agent as unknown as { keepSocketAlive: (socket: import('node:net').Socket) => boolean }).keepSocketAlive = (socket) => {
  socket.setKeepAlive(true, 1000);
  socket.unref();
  socket.setTimeout(500);
  return true;
};
function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers: { accept: 'application/json' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}
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
      const url = `${prefix}${encodeURIComponent(id)}/status`;
      JSON.parse(mode === 'http' ? await get(url) : await (await fetch(url)).text());
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
