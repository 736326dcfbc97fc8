// External buses carry no marks: each process takes its own (a snapshot xmin)
// and trusts one only after it stayed connected for MARK_LAG_MS more (bus.ts).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MARK_LAG_MS, TaskEvents } from '../../src/events/bus.js';
import type { Transport } from '../../src/events/transports.js';
import { openTestStore, type TestStore } from '../support/store.js';

/** A bus the test connects and reconnects by hand. */
function fakeBus(): Transport & { reconnect(): void } {
  const onReconnects: Array<() => void> = [];
  return {
    kind: 'redis',
    async listen(_channel, _fn, onReconnect) {
      if (onReconnect) onReconnects.push(onReconnect);
      onReconnect?.();
      return async () => {};
    },
    async publish() {},
    async close() {},
    reconnect: () => onReconnects.forEach((f) => f()),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('marks over an external bus', () => {
  let store: TestStore | undefined;
  let events: TaskEvents | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await events?.close();
    await store?.close();
  });

  it('a mark is handed out one interval after it was taken, never across a reconnect', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    store = await openTestStore('pglite');
    const bus = fakeBus();
    events = new TaskEvents(store.database, bus);
    const marks: number[] = [];
    events.onMark((m) => marks.push(m));
    let resyncs = 0;
    events.onResync(() => resyncs++);
    await events.start();
    expect(marks).toEqual([]);
    vi.advanceTimersByTime(MARK_LAG_MS);
    await settle();
    expect(marks).toHaveLength(1);
    expect(Number.isSafeInteger(marks[0])).toBe(true);
    // The mark taken at that tick is dropped: the bus reconnected before the next one.
    bus.reconnect();
    expect(resyncs).toBe(1);
    vi.advanceTimersByTime(MARK_LAG_MS);
    await settle();
    expect(marks).toHaveLength(1);
    vi.advanceTimersByTime(MARK_LAG_MS);
    await settle();
    expect(marks).toHaveLength(2);
  });
});
