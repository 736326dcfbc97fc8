// GraphQL operations in the metrics (reelay_graphql_operations_total and
// _duration_seconds, by operation type and root field: names from the schema,
// never the client's operation name), and unexpected errors logged with the
// request id before yoga masks them (this plugin's onExecuteDone runs first).
import { getOperationAST, GraphQLError, Kind, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { graphqlOperationDuration, graphqlOperations } from '../metrics.js';
import type { Logger } from '../logger.js';

/** Errors logged here, with the request id they were logged under: maskError puts it in the answer. */
export const loggedErrors = new WeakMap<object, string>();

/** graphql-js's own errors (syntax, validation, variable coercion) and ours: a GraphQLError all the way down. */
export function isOriginalGraphQLError(e: unknown): boolean {
  if (!(e instanceof GraphQLError)) return false;
  return e.originalError == null || isOriginalGraphQLError(e.originalError);
}

const codeOf = (e: unknown) => (e as { extensions?: { code?: unknown } } | null)?.extensions?.code;

/** The error yoga would mask (no code of ours, not graphql-js's own); undefined for an expected one. */
export function unexpectedOriginal(error: unknown): unknown {
  const original = (error as { originalError?: unknown })?.originalError ?? error;
  if (codeOf(original) || isOriginalGraphQLError(error)) return undefined;
  return original;
}

function operationLabels(document: DocumentNode, operationName: string | null | undefined): { operation_type: string; root_field: string } {
  const op = getOperationAST(document, operationName);
  if (!op) return { operation_type: 'unknown', root_field: 'unknown' };
  const first = op.selectionSet.selections[0];
  return { operation_type: op.operation, root_field: first?.kind === Kind.FIELD ? first.name.value : '(fragment)' };
}

/** One operation's bound instruments: its labels are looked up once per parsed document, not per request. */
interface Instruments {
  duration: { observe(value: number): void };
  ok: { inc(): void };
  error: { inc(): void };
  subscribed: { inc(): void };
}

// yoga hands every request with the same query text the same parsed document (its parse cache).
const instrumentsByDocument = new WeakMap<DocumentNode, Map<string, Instruments>>();

function instrumentsOf(document: DocumentNode, operationName: string | null | undefined): Instruments {
  let byName = instrumentsByDocument.get(document);
  if (!byName) instrumentsByDocument.set(document, (byName = new Map()));
  const key = operationName ?? '';
  let found = byName.get(key);
  if (!found) {
    const labels = operationLabels(document, operationName);
    found = {
      duration: graphqlOperationDuration.labels(labels),
      ok: graphqlOperations.labels({ ...labels, outcome: 'ok' }),
      error: graphqlOperations.labels({ ...labels, outcome: 'error' }),
      subscribed: graphqlOperations.labels({ ...labels, outcome: 'subscribed' }),
    };
    // A document names few operations; a client sending thousands of names for one document gets no cache.
    if (byName.size < 16) byName.set(key, found);
  }
  return found;
}

export function useOperationMetrics(log: Logger): Plugin<{ requestId?: string }> {
  return {
    onExecute({ args }) {
      const instruments = instrumentsOf(args.document, args.operationName);
      const started = performance.now();
      return {
        onExecuteDone({ result }) {
          instruments.duration.observe((performance.now() - started) / 1000);
          const errors = 'errors' in result ? result.errors : undefined;
          (errors?.length ? instruments.error : instruments.ok).inc();
          for (const error of errors ?? []) {
            const original = unexpectedOriginal(error);
            if (original === undefined || typeof original !== 'object' || original === null || loggedErrors.has(original)) continue;
            const requestId = args.contextValue.requestId ?? 'unknown';
            loggedErrors.set(original, requestId);
            log.error({ err: original, reqId: requestId }, 'unexpected error');
          }
        },
      };
    },
    onSubscribe({ args }) {
      instrumentsOf(args.document, args.operationName).subscribed.inc();
    },
  };
}
