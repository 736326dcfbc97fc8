// The client's public types, all derived from the operations it sends (and so
// from schema.graphql): nothing here is a hand-written copy of the schema.
import type { CreateVideoTask, Providers, Stats, TaskFields, Tasks } from './documents.js';
import type { ResultOf, VariablesOf } from './graphql.js';

/** A task as the client returns it. */
export type VideoTask = ResultOf<typeof TaskFields>;
export type TaskStatus = VideoTask['status'];
/** `createVideoTask`'s input; `image.file` takes a Blob or File (sent as a multipart upload). */
export type CreateVideoTaskInput = VariablesOf<typeof CreateVideoTask>['input'];
/** Arguments of `tasks`: paging (`first`/`after`, `last`/`before`), `filter`, `orderBy`, `owner`. */
export type TasksArgs = VariablesOf<typeof Tasks>;
export type TaskPage = ResultOf<typeof Tasks>['tasks'];
export type TaskFilter = NonNullable<TasksArgs['filter']>;
export type Provider = ResultOf<typeof Providers>['providers'][number];
export type StatsArgs = VariablesOf<typeof Stats>;
export type Stats = ResultOf<typeof Stats>['stats'];

/** Every status, in the order a task moves through them (a Record, so the schema's enum gaining or losing one fails compilation). */
const LISTED: Record<TaskStatus, true> = { QUEUED: true, PROCESSING: true, COMPLETED: true, FAILED: true, CANCELLED: true };
export const TASK_STATUSES: readonly TaskStatus[] = Object.keys(LISTED) as TaskStatus[];

/** Statuses after which a task never changes again. */
export const TERMINAL_STATUSES: readonly TaskStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export function isTerminal(status: TaskStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}
