// A small closed-loop HTTP load generator (in the spirit of autocannon): N
// kept-alive connections, each sending the next request as soon as the last
// answer arrived, for a fixed time. Every answer is checked (status 200 and a
// body the caller accepts), so a server that fails fast is not counted fast.
import http from 'node:http';

export interface LoadOptions {
  url: string;
  /** JSON body of each request; a function gets the request's sequence number. */
  body: (seq: number) => string;
  headers?: Record<string, string>;
  connections: number;
  durationMs: number;
  /** Is this answer right? (default: no "errors" key) */
  accept?: (body: string) => boolean;
}

export interface LoadResult {
  requests: number;
  perSecond: number;
  /** Latency of every answered request, ms. */
  latencies: number[];
}

export async function load(opts: LoadOptions): Promise<LoadResult> {
  const url = new URL(opts.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const accept = opts.accept ?? ((b: string) => !b.includes('"errors"'));
  const latencies: number[] = [];
  let seq = 0;
  let failure: Error | undefined;
  const started = performance.now();
  const deadline = started + opts.durationMs;

  const once = (body: string) =>
    new Promise<void>((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(
        { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(body), ...opts.headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200 || !accept(text)) return reject(new Error(`bad answer (${res.statusCode}): ${text.slice(0, 300)}`));
            latencies.push(performance.now() - t0);
            resolve();
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const worker = async () => {
    while (!failure && performance.now() < deadline) {
      try {
        await once(opts.body(seq++));
      } catch (err) {
        failure = err as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.connections }, worker));
  const elapsed = performance.now() - started;
  agent.destroy();
  if (failure) throw failure;
  return { requests: latencies.length, perSecond: latencies.length / (elapsed / 1000), latencies };
}
