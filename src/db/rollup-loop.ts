// The periodic loop both delta tables (task counters, task history) are rolled
// up by: every interval, and at once again while a full batch came back, until stopped.

export interface RollupLoop {
  stop(): Promise<void>;
}

/** Run `rollUp` (returns how many deltas it folded) every `intervalMs`, again at once after a full `batch`. */
export function startRollupLoop(rollUp: () => Promise<number>, batch: number, opts: { intervalMs?: number; onError?: (err: unknown) => void } = {}): RollupLoop {
  const intervalMs = opts.intervalMs ?? 1000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const tick = () => {
    running = (async () => {
      try {
        while (!stopped && (await rollUp()) >= batch);
      } catch (err) {
        if (!stopped) opts.onError?.(err);
      }
      if (!stopped) timer = setTimeout(tick, intervalMs).unref();
    })();
  };
  timer = setTimeout(tick, intervalMs).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
