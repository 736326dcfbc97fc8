// reelay/client: a typed client for a reelay server (types derived from
// schema.graphql with gql.tada). See README "Client library".
export { createReelayClient, type GenerateOptions, type ReelayClient, type ReelayClientOptions, type TasksWatcher, type WatchOptions } from './client.js';
export { isAuthError, isReelayError, NETWORK_ERROR, ReelayError, UNAUTHENTICATED, type ReelayErrorInit, type ReelayErrorKind } from './errors.js';
export { graphql, type ResultOf, type VariablesOf } from './graphql.js';
export type { TypedDocument } from './http.js';
export { isTerminal, TASK_STATUSES, TERMINAL_STATUSES } from './types.js';
export type { CreateVideoTaskInput, Provider, Stats, StatsArgs, TaskFilter, TaskPage, TasksArgs, TaskStatus, VideoTask } from './types.js';
