// One execution per change for all subscribers of the same operation. The
// task feed hands every subscriber of a task the same row object for a change
// (task-feed.ts), so the selection's result for that row is the same for all
// of them as long as what the result depends on is the same: the document, the
// variables, the operation, the owner and the origin (result URLs). This
// plugin executes each subscription event once per such key and row and gives
// every subscriber the same result object; graphql-ws then only serializes it.
// Rows a subscriber read by itself (its first state, a re-sync) are objects of
// its own and executed for it alone. Results are forgotten with the row.
//
// Errors are masked here, once per shared result, and the plugins after this
// one do not wrap the stream (setResultAndStopExecution): yoga's masked-errors
// plugin would otherwise put two more async iterators, each with its own
// promises, between every subscriber and its result, per change (about a
// tenth of the CPU of a change with 5,000 subscribers, and garbage that lived
// through the whole delivery). Plugins before this one still see the stream.
import { createSourceEventStream, execute, GraphQLError, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/** The server's error masking (yoga's `maskedErrors.maskError` signature). */
export type MaskError = (error: unknown, message: string) => Error;

/** yoga's default message for a masked error. */
const MASKED_MESSAGE = 'Unexpected error.';

/** An aborted SSE request's error goes out as it is (as yoga does), never masked. */
const isAbortError = (err: unknown) =>
  typeof err === 'object' && err !== null && (err as Error).constructor?.name === 'DOMException' && ['AbortError', 'TimeoutError'].includes((err as Error).name);

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

interface Masking {
  result(r: ExecutionResult): ExecutionResult;
  thrown(err: unknown): unknown;
}

function masking(maskError: MaskError): Masking {
  const one = (e: unknown) => maskError(e, MASKED_MESSAGE) as GraphQLError;
  return {
    result: (r) => (r.errors?.length ? { ...r, errors: r.errors.map(one) } : r),
    thrown: (err) => (isAbortError(err) ? err : one(err)),
  };
}

function resultFor(args: ExecutionArgs, key: string, payload: unknown, mask: Masking): Result {
  const run = (): Result => {
    const r = execute({ ...args, rootValue: payload });
    return isPromise(r) ? r.then(mask.result) : mask.result(r);
  };
  if (typeof payload !== 'object' || payload === null) return run();
  let results = byRow.get(payload);
  if (!results) byRow.set(payload, (results = new Map()));
  let result = results.get(key);
  if (!result) results.set(key, (result = run()));
  return result;
}

/** The source stream mapped to (shared) results; return() reaches the source at once, even while it waits. */
function mapEvents(source: AsyncIterator<unknown>, args: ExecutionArgs, mask: Masking): AsyncIterableIterator<ExecutionResult> {
  const key = keyOf(args);
  const it: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      let r: IteratorResult<unknown>;
      try {
        r = await source.next();
      } catch (err) {
        throw mask.thrown(err);
      }
      if (r.done) return { value: undefined, done: true };
      // Results of this schema's subscriptions are computed synchronously: no extra await per subscriber.
      const result = resultFor(args, key, r.value, mask);
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

async function subscribeShared(args: ExecutionArgs, mask: Masking): Promise<ExecutionResult | AsyncIterableIterator<ExecutionResult>> {
  let stream: Awaited<ReturnType<typeof createSourceEventStream>>;
  try {
    stream = await createSourceEventStream(args);
  } catch (err) {
    throw mask.thrown(err);
  }
  if (!isAsyncIterable(stream)) return mask.result(stream as ExecutionResult);
  return mapEvents((stream as AsyncIterable<unknown>)[Symbol.asyncIterator](), args, mask);
}

/** Put it after every plugin that wraps subscription streams and before yoga's own (they are skipped). */
export function useSharedSubscriptionResults(opts: { maskError: MaskError }): Plugin {
  const mask = masking(opts.maskError);
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      setResultAndStopExecution(subscribeShared(args as ExecutionArgs, mask) as never);
    },
  };
}
