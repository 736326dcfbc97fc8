// Spreads a burst of the runner's wake-ups over turns of the event loop. Jobs
// polled at an interval each have a timer of their own; whenever the loop is
// held up (a major garbage collection, a large batch), every timer that came
// due meanwhile fires in the same timers phase, and each starts its poll there:
// thousands of requests, with their answers arriving together next, and API
// requests waiting behind all of it (bench/jobs.ts at 10,000 jobs: stalls of
// 0.3–0.5 s). Likewise a claim of hundreds of tasks sends its submissions at
// once when their batched write comes back. Through the gate at most `perTurn`
// go in one turn; the rest go in the next turns (setImmediate), so I/O, such as
// API requests, is served in between. Nobody waits while the gate is quiet.
export class TurnGate {
  private passedThisTurn = 0;
  private turnScheduled = false;
  private queue: Array<() => void> = [];
  /** Index of the first waiter in `queue` (no O(n) shift per pass). */
  private head = 0;

  constructor(readonly perTurn: number) {}

  /** Resolves at once while this turn has room, else in a later turn, first come first served. */
  pass(): Promise<void> {
    if (this.head === this.queue.length && this.passedThisTurn < this.perTurn) {
      this.passedThisTurn++;
      this.scheduleTurn();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.queue.push(resolve);
      this.scheduleTurn();
    });
  }

  /** Waiters not yet let through. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => this.turn());
  }

  private turn(): void {
    this.turnScheduled = false;
    this.passedThisTurn = 0;
    while (this.passedThisTurn < this.perTurn && this.head < this.queue.length) {
      this.passedThisTurn++;
      const next = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as () => void;
      next();
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    // Another turn to reset the count (and let the rest through).
    if (this.passedThisTurn > 0 || this.head < this.queue.length) this.scheduleTurn();
  }
}
