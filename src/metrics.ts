// Prometheus metrics of this process (prom-client): counters and histograms
// that the API, the runner and the provider calls bump at a few clear points,
// and the default Node process metrics. Counters are per process: with several
// processes, sum them (`sum by (provider) (rate(...))`). Every label value comes
// from a small fixed set or from the configuration (provider ids), never from a
// request. The gauges read from the database are made per scrape by the API
// (server/metrics.ts), not here.
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import type { TaskRow } from './db/schema.js';
import { isUpstreamError } from './providers/errors.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const tasksCreated = new Counter({
  name: 'reelay_tasks_created_total',
  help: 'Tasks created by this process (an idempotent replay creates none).',
  labelNames: ['provider'] as const,
  registers: [registry],
});

export const tasksFinished = new Counter({
  name: 'reelay_tasks_finished_total',
  help: 'Tasks this process moved to a terminal state.',
  labelNames: ['provider', 'status'] as const,
  registers: [registry],
});

export const taskDuration = new Histogram({
  name: 'reelay_task_duration_seconds',
  help: 'Run time of completed tasks (started to completed; created to completed for tasks never started), observed by the process that completed them.',
  labelNames: ['provider'] as const,
  buckets: [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
  registers: [registry],
});

export const upstreamRequests = new Counter({
  name: 'reelay_upstream_requests_total',
  help: 'Provider operations (submit, poll, lookup, cancel, health) by outcome.',
  labelNames: ['provider', 'operation', 'outcome'] as const,
  registers: [registry],
});

export const upstreamRequestDuration = new Histogram({
  name: 'reelay_upstream_request_duration_seconds',
  help: 'Duration of provider operations.',
  labelNames: ['provider', 'operation'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [registry],
});

export const webhookDeliveries = new Counter({
  name: 'reelay_webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const posterRenders = new Counter({
  name: 'reelay_poster_renders_total',
  help: 'ffmpeg runs that made (ok) or could not make (failed) the poster of a video result, on first request of its thumbnailUrl.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const leaseRecoveries = new Counter({
  name: 'reelay_lease_recoveries_total',
  help: 'Tasks this runner took over because the lease of the runner holding them had lapsed.',
  registers: [registry],
});

export const graphqlOperations = new Counter({
  name: 'reelay_graphql_operations_total',
  help: 'GraphQL operations executed (after parsing and validation), by type, root field and outcome.',
  labelNames: ['operation_type', 'root_field', 'outcome'] as const,
  registers: [registry],
});

export const graphqlOperationDuration = new Histogram({
  name: 'reelay_graphql_operation_duration_seconds',
  help: 'Execution time of GraphQL queries and mutations (subscriptions are counted, not timed).',
  labelNames: ['operation_type', 'root_field'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/** A transition just committed: count the task if it reached a terminal state. */
export function countFinished(row: Pick<TaskRow, 'status' | 'providerId' | 'createdAt' | 'startedAt' | 'completedAt'>): void {
  if (!TERMINAL.has(row.status)) return;
  tasksFinished.inc({ provider: row.providerId, status: row.status });
  if (row.status === 'COMPLETED' && row.completedAt) {
    const from = (row.startedAt ?? row.createdAt).getTime();
    taskDuration.observe({ provider: row.providerId }, Math.max(0, row.completedAt.getTime() - from) / 1000);
  }
}

export type UpstreamOutcome = 'ok' | 'timeout' | 'unreachable' | 'network' | 'rate_limited' | 'http_4xx' | 'http_5xx' | 'malformed' | 'failed' | 'aborted' | 'error';

/** A bounded name for how a provider operation ended (never the upstream's own code). */
export function upstreamOutcome(err: unknown, signal?: AbortSignal): UpstreamOutcome {
  if (signal?.aborted) return 'aborted';
  if (!isUpstreamError(err)) return 'error';
  if (err.status === 429) return 'rate_limited';
  if (err.status !== undefined && err.status >= 500) return 'http_5xx';
  if (err.status !== undefined && err.status >= 400) return 'http_4xx';
  switch (err.code) {
    case 'UPSTREAM_TIMEOUT':
      return 'timeout';
    case 'UPSTREAM_UNREACHABLE':
      return 'unreachable';
    case 'UPSTREAM_NETWORK':
      return 'network';
    case 'UPSTREAM_MALFORMED':
      return 'malformed';
    default:
      return 'failed';
  }
}

/** The text exposition of this process's metrics. */
export function processMetrics(): Promise<string> {
  return registry.metrics();
}

export const METRICS_CONTENT_TYPE = registry.contentType;
