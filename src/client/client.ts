// createReelayClient: the typed way to use a reelay server from Node or a
// browser. Queries and mutations go over HTTP (fetch); `watch` and `generate`
// follow a task through the `taskUpdated` subscription (graphql-ws).
import { createClient, type Client as WsClient } from 'graphql-ws';
import * as docs from './documents.js';
import { fromErrorResult, networkError, ReelayError, type ErrorResult } from './errors.js';
import { describe, request, source, type HttpOptions } from './http.js';
import type { DocumentNode } from 'graphql';
import { isTerminal, type CreateVideoTaskInput, type Provider, type Stats, type StatsArgs, type TaskPage, type TasksArgs, type VideoTask } from './types.js';

export interface ReelayClientOptions {
  /** The server, e.g. "http://127.0.0.1:4000" (a trailing "/graphql" is accepted too). */
  url: string;
  /** The client key, sent as `Authorization: Bearer <key>` and in the WebSocket's connectionParams. Omit for an open server. */
  apiKey?: string;
  /**
   * A WebSocket constructor for subscriptions where there is no global one
   * (Node 20: `import WebSocket from 'ws'`). Browsers and Node 22+ need none.
   */
  webSocketImpl?: unknown;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: typeof fetch;
  /** Extra HTTP headers on every request. */
  headers?: Record<string, string>;
}

export interface WatchOptions {
  /** Stops watching: the promise rejects with the signal's reason. The task itself keeps running. */
  signal?: AbortSignal;
}

export interface GenerateOptions extends WatchOptions {
  /** Every state of the task from creation to its end (status, progress, queuePosition, result). */
  onProgress?: (task: VideoTask) => void;
}

export interface ReelayClient {
  /** Creates a task; throws a ReelayError (kind "api") for the API's error results, e.g. code UNKNOWN_PROVIDER. */
  createVideoTask(input: CreateVideoTaskInput): Promise<VideoTask>;
  /** The task, or null when it is missing or another key's. */
  task(id: string): Promise<VideoTask | null>;
  /** A page of the caller's tasks, newest first unless `orderBy` says otherwise. */
  tasks(args?: TasksArgs): Promise<TaskPage>;
  /** Cancels a QUEUED or PROCESSING task (TASK_FINISHED otherwise). */
  cancelTask(id: string): Promise<VideoTask>;
  /** A new task with the input of a FAILED or CANCELLED one (TASK_NOT_RETRYABLE otherwise). */
  retryTask(id: string): Promise<VideoTask>;
  /** Removes a finished task and its files; resolves with its id. */
  deleteTask(id: string): Promise<string>;
  providers(): Promise<Provider[]>;
  stats(args?: StatsArgs): Promise<Stats>;
  /** Calls `onUpdate` with the current state and every change; resolves with the task in its terminal state. */
  watch(id: string, onUpdate?: (task: VideoTask) => void, options?: WatchOptions): Promise<VideoTask>;
  /** createVideoTask + watch: resolves with the finished task (check `status`: COMPLETED, FAILED or CANCELLED). */
  generate(input: CreateVideoTaskInput, options?: GenerateOptions): Promise<VideoTask>;
  /** Closes the WebSocket (if one was opened). */
  close(): Promise<void>;
}

type Union = { __typename: string; task?: VideoTask; id?: string };

/** The success's payload, or the error member thrown as a ReelayError. */
function unwrap<T extends Union>(result: T): T {
  if ('code' in result) throw fromErrorResult(result as unknown as ErrorResult);
  return result;
}

function endpoints(url: string): { http: string; ws: string } {
  const base = url.replace(/\/+$/, '').replace(/\/graphql$/, '');
  const http = `${base}/graphql`;
  return { http, ws: http.replace(/^http/i, 'ws') };
}

/** A graphql-ws failure (close event, error list or socket error) as a ReelayError. */
function wsError(e: unknown, wsUrl: string): ReelayError {
  if (e instanceof ReelayError) return e;
  if (Array.isArray(e) && e.length) {
    const first = e[0] as { message?: string; extensions?: { code?: unknown } };
    const code = typeof first.extensions?.code === 'string' ? first.extensions.code : 'GRAPHQL_ERROR';
    return new ReelayError({ kind: 'graphql', code, message: first.message ?? 'subscription error' });
  }
  const close = e as { code?: unknown; reason?: unknown };
  if (typeof close?.code === 'number') {
    if (close.code === 4403) return new ReelayError({ kind: 'graphql', code: 'UNAUTHENTICATED', message: `WebSocket refused (4403): ${String(close.reason || 'missing or wrong key')}` });
    return networkError(`WebSocket ${wsUrl} closed (${close.code}${close.reason ? ` ${String(close.reason)}` : ''})`, e);
  }
  return networkError(`cannot reach ${wsUrl}: ${describe(e)}`, e);
}

export function createReelayClient(options: ReelayClientOptions): ReelayClient {
  const { http: endpoint, ws: wsUrl } = endpoints(options.url);
  const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (!fetchImpl) throw new TypeError('reelay client: no fetch available; pass options.fetch');
  const httpOptions: HttpOptions = { endpoint, apiKey: options.apiKey, fetch: fetchImpl, headers: options.headers };
  const run = <T>(doc: DocumentNode, variables?: Record<string, unknown>) => request<T>(httpOptions, doc, variables);

  let ws: WsClient | undefined;
  const wsClient = (): WsClient => {
    if (ws) return ws;
    const impl = options.webSocketImpl ?? (globalThis as { WebSocket?: unknown }).WebSocket;
    if (!impl) throw new TypeError('reelay client: no global WebSocket (Node 20); pass webSocketImpl, e.g. `import WebSocket from "ws"`');
    ws = createClient({
      url: wsUrl,
      webSocketImpl: impl,
      connectionParams: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
      lazy: true,
      // A refused key (4403) will not work on a second try; dropped connections are retried (taskUpdated starts with the current state).
      shouldRetry: (e) => typeof (e as { code?: unknown })?.code === 'number' && (e as { code: number }).code !== 4403,
      retryAttempts: 5,
    });
    return ws;
  };

  const client: ReelayClient = {
    async createVideoTask(input) {
      const data = await run<{ createVideoTask: Union }>(docs.CreateVideoTask, { input });
      return unwrap(data.createVideoTask).task!;
    },
    async task(id) {
      const data = await run<{ task: VideoTask | null }>(docs.Task, { id });
      return data.task;
    },
    async tasks(args = {}) {
      const data = await run<{ tasks: TaskPage }>(docs.Tasks, args as Record<string, unknown>);
      return data.tasks;
    },
    async cancelTask(id) {
      const data = await run<{ cancelTask: Union }>(docs.CancelTask, { id });
      return unwrap(data.cancelTask).task!;
    },
    async retryTask(id) {
      const data = await run<{ retryTask: Union }>(docs.RetryTask, { id });
      return unwrap(data.retryTask).task!;
    },
    async deleteTask(id) {
      const data = await run<{ deleteTask: Union }>(docs.DeleteTask, { id });
      return unwrap(data.deleteTask).id!;
    },
    async providers() {
      const data = await run<{ providers: Provider[] }>(docs.Providers);
      return data.providers;
    },
    async stats(args = {}) {
      const data = await run<{ stats: Stats }>(docs.Stats, args as Record<string, unknown>);
      return data.stats;
    },
    watch(id, onUpdate, watchOptions = {}) {
      const { signal } = watchOptions;
      return new Promise<VideoTask>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        let last: VideoTask | undefined;
        let dispose: (() => void) | undefined;
        let settled = false;
        const finish = (err: unknown, task?: VideoTask) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          dispose?.();
          if (err !== undefined) reject(err);
          else resolve(task!);
        };
        const onAbort = () => finish(signal!.reason);
        signal?.addEventListener('abort', onAbort);
        const subscribe = () => {
          let socket: WsClient;
          try {
            socket = wsClient();
          } catch (e) {
            return finish(e);
          }
          dispose = socket.subscribe<{ taskUpdated: VideoTask | null }>(
            { query: source(docs.TaskUpdated), variables: { id } },
            {
              next: (msg) => {
                if (settled) return;
                if (msg.errors?.length) return finish(wsError(msg.errors, wsUrl));
                const task = msg.data?.taskUpdated;
                if (!task) return finish(new ReelayError({ kind: 'api', code: 'NOT_FOUND', message: `no task ${id} for this client` }));
                last = task;
                try {
                  onUpdate?.(task);
                } catch (e) {
                  return finish(e);
                }
                if (isTerminal(task.status)) finish(undefined, task);
              },
              error: (e) => finish(wsError(e, wsUrl)),
              // The server completes after the terminal state; a completion before it (a server going away
              // between retries) is followed by one read: finished → done, else subscribe again.
              complete: () => {
                if (settled) return;
                if (last && isTerminal(last.status)) return finish(undefined, last);
                client.task(id).then(
                  (t) => (t === null ? finish(new ReelayError({ kind: 'api', code: 'NOT_FOUND', message: `no task ${id} for this client` })) : isTerminal(t.status) ? (onUpdate?.(t), finish(undefined, t)) : subscribe()),
                  (e) => finish(e),
                );
              },
            },
          );
        };
        subscribe();
      });
    },
    async generate(input, generateOptions = {}) {
      const task = await client.createVideoTask(input);
      generateOptions.onProgress?.(task);
      if (isTerminal(task.status)) return task;
      return client.watch(task.id, generateOptions.onProgress, { signal: generateOptions.signal });
    },
    async close() {
      const current = ws;
      ws = undefined;
      await current?.dispose();
    },
  };
  return client;
}
