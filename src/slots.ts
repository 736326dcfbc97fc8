// At most `size` of something at once; the rest wait in arrival order, each at
// most `maxWaitMs` (then `onTimeout`'s error) and until its signal aborts (then
// `signal.reason`). Used for image decodes (a burst of uploads cannot take all
// memory, a flood fails clearly instead of hanging) and for finishing results
// in the runner (a burst of completions cannot take over the process).
export interface SlotWait {
  signal?: AbortSignal;
  /** Longest wait for a free slot; forever when omitted. */
  maxWaitMs?: number;
  /** The error a wait that ran out of `maxWaitMs` rejects with. */
  onTimeout?: (maxWaitMs: number) => Error;
}

export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  async run<T>(fn: () => Promise<T>, opts: SlotWait = {}): Promise<T> {
    opts.signal?.throwIfAborted();
    if (this.free > 0) this.free--;
    else await this.wait(opts);
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight to the next caller
      else this.free++;
    }
  }

  private wait({ signal, maxWaitMs = Number.POSITIVE_INFINITY, onTimeout }: SlotWait): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const leave = (err: unknown) => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        reject(err);
      };
      const grant = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => leave(signal!.reason);
      const timeoutError = () => (onTimeout ? onTimeout(maxWaitMs) : new Error(`no free slot within ${maxWaitMs} ms`));
      const timer = Number.isFinite(maxWaitMs) ? setTimeout(() => leave(timeoutError()), maxWaitMs) : undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }
}
