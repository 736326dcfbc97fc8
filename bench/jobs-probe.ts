// API probe of bench/jobs.ts, in a process of its own: the benchmark's process
// also runs the upstream emulator (a thousand polls a second, thousands of
// result downloads), and a probe sharing its event loop would count the
// emulator's delays as reelay's. Sends `tasks(first: 50)` and `stats`
// alternately, one at a time, 50 ms apart, and prints every sample as one JSON
// line `[[startedAtEpochMs, ms, ok], …]` when stdin closes.
// Usage: tsx bench/jobs-probe.ts <graphql url>
const url = process.argv[2]!;
const TASKS_QUERY = `{ tasks(first: 50) { edges { cursor node { id status progress } } pageInfo { hasNextPage endCursor } } }`;
const STATS_QUERY = `{ stats { total queued processing completed failed cancelled } }`;

let running = true;
const samples: Array<[number, number, boolean]> = [];
const loop = (async () => {
  for (let i = 0; running; i++) {
    const at = Date.now();
    const t0 = performance.now();
    let ok = false;
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: i % 2 ? STATS_QUERY : TASKS_QUERY }) });
      const body = (await res.json()) as { errors?: unknown };
      ok = res.ok && !body.errors;
    } catch {
      ok = false;
    }
    samples.push([at, performance.now() - t0, ok]);
    await new Promise((r) => setTimeout(r, 50));
  }
})();

process.stdin.resume();
process.stdin.on('end', () => {
  running = false;
  void loop.then(() => {
    process.stdout.write(`${JSON.stringify(samples)}\n`);
    process.exit(0);
  });
});
