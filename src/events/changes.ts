// An async iterator over task change notifications, coalescing bursts: a
// subscriber that is busy sending one update gets the ids that changed in the
// meantime as one batch. 'resync' means notifications may have been missed.
import type { TaskEvents } from './bus.js';

export type ChangeBatch = { ids: Set<string>; resync: boolean };

export function taskChanges(events: TaskEvents, accept: (id: string) => boolean): AsyncIterableIterator<ChangeBatch> & { close(): void } {
  let pending: ChangeBatch = { ids: new Set(), resync: false };
  let waiting: ((r: IteratorResult<ChangeBatch>) => void) | null = null;
  let closed = false;

  const flush = () => {
    if (!waiting || (pending.ids.size === 0 && !pending.resync)) return;
    const batch = pending;
    pending = { ids: new Set(), resync: false };
    const w = waiting;
    waiting = null;
    w({ value: batch, done: false });
  };
  const offTask = events.onTask((id) => {
    if (!accept(id)) return;
    pending.ids.add(id);
    flush();
  });
  const offResync = events.onResync(() => {
    pending.resync = true;
    flush();
  });

  const close = () => {
    if (closed) return;
    closed = true;
    offTask();
    offResync();
    waiting?.({ value: undefined, done: true });
    waiting = null;
  };

  const it = {
    next(): Promise<IteratorResult<ChangeBatch>> {
      if (closed) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
        flush();
      });
    },
    return(): Promise<IteratorResult<ChangeBatch>> {
      close();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return it;
    },
    close,
  };
  return it;
}
