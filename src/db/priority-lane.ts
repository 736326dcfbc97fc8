// The embedded PGlite has one connection, and it serves queries in the order
// they arrive: a burst of runner writes would make every API query wait behind
// all of them. Two views of the one client put API queries first: `first`
// goes straight to PGlite; `after` (background work) hands PGlite one
// operation at a time, and only while no API operation is pending. So an API
// query waits for at most the one background statement or transaction that
// is already running.
import type { PGlite } from '@electric-sql/pglite';

type Run = <T>(fn: () => Promise<T>) => Promise<T>;

/** The client methods drizzle calls; everything else passes through unchanged. */
const GATED = new Set<PropertyKey>(['query', 'exec', 'transaction']);

export class PriorityLane {
  readonly first: PGlite;
  readonly after: PGlite;
  private pending = 0;
  private waiters: Array<() => void> = [];
  private tail: Promise<void> = Promise.resolve();

  constructor(client: PGlite) {
    this.first = gate(client, (fn) => this.runFirst(fn));
    this.after = gate(client, (fn) => this.runAfter(fn));
  }

  /** API operations pending or running (for tests). */
  get apiPending(): number {
    return this.pending;
  }

  private async runFirst<T>(fn: () => Promise<T>): Promise<T> {
    this.pending++;
    try {
      return await fn();
    } finally {
      if (--this.pending === 0) for (const w of this.waiters.splice(0)) w();
    }
  }

  private async runAfter<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.tail;
    let done!: () => void;
    this.tail = new Promise<void>((r) => (done = r));
    try {
      await before;
      // PGlite runs a statement without giving the event loop a turn: yield one
      // before each background operation, so requests that arrived meanwhile
      // can issue their queries (and go first).
      await new Promise<void>((r) => setImmediate(r));
      while (this.pending > 0) await new Promise<void>((r) => this.waiters.push(r));
      return await fn();
    } finally {
      done();
    }
  }
}

function gate(client: PGlite, run: Run): PGlite {
  return new Proxy(client, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      // Bound to the real client: PGlite keeps its state in private fields.
      const bound = (value as (...a: unknown[]) => unknown).bind(target);
      return GATED.has(key) ? (...args: unknown[]) => run(() => bound(...args) as Promise<unknown>) : bound;
    },
  });
}
