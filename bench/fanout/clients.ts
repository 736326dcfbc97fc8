// The fan-out bench's WebSocket clients, in a process of their own so their
// cost does not land on the server measured. Raw graphql-transport-ws over
// `ws`, one subscription per connection; on each `next` message only the
// arrival time is noted. Driven over IPC by bench/fanout.ts:
//   { open: { url, n, query, variables } } → { opened }   (every client has its first message when `initial`)
//   { await: round }                        → { times }    (arrival time of message `round` on every client)
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

interface OpenCmd {
  url: string;
  n: number;
  query: string;
  variables: Record<string, unknown>;
  /** The subscription sends the current state first (taskUpdated). */
  initial: boolean;
}

const clock = () => performance.timeOrigin + performance.now();
let counts = new Int32Array(0);
let times = new Float64Array(0);
const sockets: WebSocket[] = [];
let errors = 0;

function openOne(cmd: OpenCmd, i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(cmd.url, 'graphql-transport-ws');
    let subscribed = false;
    ws.on('open', () => ws.send('{"type":"connection_init","payload":{}}'));
    ws.on('error', reject);
    ws.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('{"id":"1","type":"next"') || text.includes('"type":"next"')) {
        times[i] = clock();
        counts[i]!++;
        if (cmd.initial && counts[i] === 1) resolve();
        return;
      }
      const msg = JSON.parse(text) as { type: string };
      if (msg.type === 'connection_ack' && !subscribed) {
        subscribed = true;
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: cmd.query, variables: cmd.variables } }));
        // Without a first message, a subscription is live once the server had time to run it (see fanout.ts).
        if (!cmd.initial) resolve();
      } else if (msg.type === 'ping') ws.send('{"type":"pong"}');
      else if (msg.type === 'error' || msg.type === 'complete') errors++;
    });
    sockets.push(ws);
  });
}

function withTimeout(p: Promise<void>, i: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((_, reject) => (t = setTimeout(() => reject(new Error(`client ${i} not subscribed within 30 s`)), 30_000)))]).finally(() => clearTimeout(t));
}

async function open(cmd: OpenCmd): Promise<void> {
  counts = new Int32Array(cmd.n);
  times = new Float64Array(cmd.n);
  let next = 0;
  const worker = async () => {
    while (next < cmd.n) {
      const i = next++;
      await withTimeout(openOne(cmd, i), i);
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
}

function awaitRound(target: number, timeoutMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      let done = true;
      for (let i = 0; i < counts.length; i++) if (counts[i]! < target) { done = false; break; }
      if (done) return resolve(Array.from(times));
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`only ${counts.filter((c) => c >= target).length}/${counts.length} clients got message ${target} (errors: ${errors})`));
      setTimeout(check, 2);
    };
    check();
  });
}

process.on('message', (m: { open?: OpenCmd; await?: number; close?: true }) => {
  if (m.open) {
    open(m.open).then(
      () => process.send!({ opened: true, errors }),
      (err: Error) => process.send!({ error: err.message }),
    );
  } else if (m.await !== undefined) {
    awaitRound(m.await, 30_000).then(
      (t) => process.send!({ times: t }),
      (err: Error) => process.send!({ error: err.message }),
    );
  } else if (m.close) {
    for (const s of sockets) s.terminate();
    process.exit(0);
  }
});
process.send!({ up: true });
