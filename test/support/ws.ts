// A graphql-ws client for tests that waits for states, never for fixed times.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export function wsClient(url: string, key?: string, extra: Partial<Parameters<typeof createClient>[0]> = {}): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: key ? { authorization: `Bearer ${key}` } : {},
    retryAttempts: 0,
    lazy: true,
    ...extra,
  });
}

export interface Subscription<T> {
  /** Every payload received so far. */
  values: T[];
  /** Resolves with the first value (already received or future) matching `pred`. */
  waitFor(pred: (v: T) => boolean, timeoutMs?: number): Promise<T>;
  /** Resolves when the server completes the subscription. */
  completed: Promise<void>;
  errors: unknown[];
  dispose(): void;
}

export function subscribe<T = any>(client: Client, query: string, variables: Record<string, unknown>, pick: (data: any) => T): Subscription<T> {
  const values: T[] = [];
  const errors: unknown[] = [];
  const waiters: Array<{ pred: (v: T) => boolean; resolve: (v: T) => void }> = [];
  let done!: () => void;
  let fail!: (e: unknown) => void;
  const completed = new Promise<void>((res, rej) => {
    done = res;
    fail = rej;
  });
  completed.catch(() => {});
  const dispose = client.subscribe<any>(
    { query, variables },
    {
      next: (msg) => {
        if (msg.errors) errors.push(...msg.errors);
        if (!msg.data) return;
        const v = pick(msg.data);
        values.push(v);
        for (const w of [...waiters]) if (w.pred(v)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(v);
        }
      },
      error: (e) => {
        errors.push(e);
        fail(e);
      },
      complete: () => done(),
    },
  );
  return {
    values,
    errors,
    completed,
    dispose,
    waitFor(pred, timeoutMs = 30_000) {
      const hit = values.find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting; got ${JSON.stringify(values.slice(-3))} errors ${JSON.stringify(errors)}`)), timeoutMs);
        waiters.push({ pred, resolve: (v) => (clearTimeout(t), resolve(v)) });
      });
    },
  };
}
