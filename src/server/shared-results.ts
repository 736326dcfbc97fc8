// One execution per change for all subscribers of the same operation. The
// task feed hands every subscriber of a task the same row object for a change
// (task-feed.ts), so the selection's result for that row is the same for all
// of them as long as what the result depends on is the same: the document, the
// variables, the operation, the owner and the origin (result URLs). This
// plugin executes each subscription event once per such key and row and gives
// every subscriber the same result object; graphql-ws then only serializes it.
// Rows a subscriber read by itself (its first state, a re-sync) are objects of
// its own and executed for it alone. Results are forgotten with the row.
import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

type Result = ExecutionResult | Promise<ExecutionResult>;

const isPromise = (r: Result): r is Promise<ExecutionResult> => typeof (r as Promise<ExecutionResult>).then === 'function';

const byRow = new WeakMap<object, Map<string, Result>>();
const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;

function keyOf(args: ExecutionArgs): string {
  let doc = documentIds.get(args.document);
  if (doc === undefined) documentIds.set(args.document, (doc = nextDocumentId++));
  const ctx = (args.contextValue ?? {}) as { owner?: string; origin?: string };
  return `${doc}\u0000${args.operationName ?? ''}\u0000${ctx.owner ?? ''}\u0000${ctx.origin ?? ''}\u0000${JSON.stringify(args.variableValues ?? {})}`;
}

function resultFor(args: ExecutionArgs, key: string, payload: unknown): Result {
  const run = () => execute({ ...args, rootValue: payload });
  if (typeof payload !== 'object' || payload === null) return run();
  let results = byRow.get(payload);
  if (!results) byRow.set(payload, (results = new Map()));
  let result = results.get(key);
  if (!result) results.set(key, (result = run()));
  return result;
}

/** The source stream mapped to (shared) results; return() reaches the source at once, even while it waits. */
function mapEvents(source: AsyncIterator<unknown>, args: ExecutionArgs): AsyncIterableIterator<ExecutionResult> {
  const key = keyOf(args);
  const it: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      const r = await source.next();
      if (r.done) return { value: undefined, done: true };
      // Results of this schema's subscriptions are computed synchronously: no extra await per subscriber.
      const result = resultFor(args, key, r.value);
      return { value: isPromise(result) ? await result : result, done: false };
    },
    async return() {
      await source.return?.();
      return { value: undefined, done: true };
    },
    async throw(err: unknown) {
      if (source.throw) await source.throw(err);
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]: () => it,
  };
  return it;
}

export function useSharedSubscriptionResults(): Plugin {
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(async (args: ExecutionArgs) => {
        const stream = await createSourceEventStream(args);
        if (!isAsyncIterable(stream)) return stream as ExecutionResult;
        return mapEvents((stream as AsyncIterable<unknown>)[Symbol.asyncIterator](), args);
      });
    },
  };
}
