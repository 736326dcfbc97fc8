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

export function useOperationMetrics(log: Logger): Plugin<{ requestId?: string }> {
  return {
    onExecute({ args }) {
      const labels = operationLabels(args.document, args.operationName);
      const started = performance.now();
      return {
        onExecuteDone({ result }) {
          graphqlOperationDuration.observe(labels, (performance.now() - started) / 1000);
          const errors = 'errors' in result ? result.errors : undefined;
          graphqlOperations.inc({ ...labels, outcome: errors?.length ? 'error' : 'ok' });
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
      graphqlOperations.inc({ ...operationLabels(args.document, args.operationName), outcome: 'subscribed' });
    },
  };
}
