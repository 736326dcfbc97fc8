// reelay/client: a typed client for a reelay server (types derived from
// schema.graphql with gql.tada). See README "Client library".
export { createReelayClient, type GenerateOptions, type ReelayClient, type ReelayClientOptions, type WatchOptions } from './client.js';
export { isReelayError, NETWORK_ERROR, ReelayError, type ReelayErrorInit, type ReelayErrorKind } from './errors.js';
export { isTerminal, TERMINAL_STATUSES } from './types.js';
export type { CreateVideoTaskInput, Provider, Stats, StatsArgs, TaskFilter, TaskPage, TasksArgs, TaskStatus, VideoTask } from './types.js';
