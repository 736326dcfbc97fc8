// A subscription over SSE ends the moment its key stops working: an anonymous
// one when the server starts requiring keys, a stored key's when that key is
// revoked. Over WebSocket http.ts closes the whole connection (4403) instead.
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Auth, Principal } from '../auth.js';

export function useEndSubscriptionsWithKey(auth: Auth): Plugin<{ principal?: Principal; socket?: unknown }> {
  return {
    onSubscribe({ args }) {
      const { principal, socket } = args.contextValue;
      if (!principal || socket || principal.via === 'environment') return;
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result)) setResult(whileKeyWorks(result, auth, principal));
        },
      };
    },
  };
}

async function* whileKeyWorks<T>(source: AsyncIterable<T>, auth: Auth, principal: Principal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let untrack: (() => void) | null = null;
  const ended = new Promise<'ended'>((resolve) => {
    untrack = auth.track(principal, () => resolve('ended'));
    if (!untrack) resolve('ended');
  });
  let done = false;
  try {
    while (true) {
      const next = await Promise.race([it.next(), ended]);
      if (next === 'ended' || next.done) {
        done = next !== 'ended';
        return;
      }
      yield next.value;
    }
  } finally {
    (untrack as (() => void) | null)?.();
    // Not awaited: the source may be waiting for its next change.
    if (!done) void it.return?.()?.catch(() => {});
  }
}
