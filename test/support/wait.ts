// Waiting for a state, never for a fixed time: poll `fn` until `ok` holds.

/** Resolves with the first value of `fn` that `ok` accepts; throws (with the last value) after `ms`. */
export async function until<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, ms = 15_000, intervalMs = 25): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`condition not reached; last value: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
