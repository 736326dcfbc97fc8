// Subscriptions opened as `anonymous` while the server ran without keys end
// the moment it starts requiring keys, over SSE as over WebSocket (whose
// anonymous connections http.ts also closes with 4403).
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { ANONYMOUS_OWNER, type Auth } from '../auth.js';

export function useEndAnonymousSubscriptions(auth: Auth): Plugin<{ owner?: string }> {
  return {
    onSubscribe({ args }) {
      if (auth.isRequired || args.contextValue.owner !== ANONYMOUS_OWNER) return;
      return {
        onSubscribeResult({ result, setResult }) {
          if (isAsyncIterable(result)) setResult(untilKeysRequired(result, auth));
        },
      };
    },
  };
}

async function* untilKeysRequired<T>(source: AsyncIterable<T>, auth: Auth): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let off = () => {};
  const required = new Promise<'required'>((resolve) => {
    off = auth.onRequired(() => resolve('required'));
    if (auth.isRequired) resolve('required');
  });
  let done = false;
  try {
    while (true) {
      const next = await Promise.race([it.next(), required]);
      if (next === 'required' || next.done) {
        done = next !== 'required';
        return;
      }
      yield next.value;
    }
  } finally {
    off();
    // Not awaited: the source may be waiting for its next change.
    if (!done) void it.return?.()?.catch(() => {});
  }
}
