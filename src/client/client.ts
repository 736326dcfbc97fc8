// createReelayClient: the typed way to use a reelay server from Node or a
// browser. Queries and mutations go over HTTP (fetch); `watch`, `generate` and
// `watchTasks` use subscriptions (graphql-ws). Every result type comes from a
// gql.tada document (documents.ts), so a schema change is a type error here.
import { createClient, type Client as WsClient } from 'graphql-ws';
import type { ResultOf } from 'gql.tada';
import * as docs from './documents.js';
import { fromErrorResult, networkError, ReelayError, UNAUTHENTICATED, type ErrorResult } from './errors.js';
import { describe, request, source, type HttpOptions, type TypedDocument, type VariablesArg } from './http.js';
import { isTerminal, type CreateVideoTaskInput, type Provider, type Stats, type StatsArgs, type TaskFilter, type TaskPage, type TasksArgs, type VideoTask } from './types.js';

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
  /**
   * The key was refused: HTTP 401 / UNAUTHENTICATED, or the WebSocket closed
   * with 4403 (a revoked or expired key). Called before the error is thrown, so
   * an app can ask for another key wherever the failure happened.
   */
  onAuthError?: (error: ReelayError) => void;
  /** The WebSocket is (again) connected. */
  onConnected?: () => void;
  /** The WebSocket closed (it reconnects while subscriptions are open and retries are left). */
  onDisconnected?: () => void;
  /** Reconnections tried for a dropped WebSocket, 0.5 s apart doubling up to 10 s (default 5; a page left open may want Infinity). */
  retryAttempts?: number;
  /** How long an unused WebSocket stays open after its last subscription ends (ms, default 0), so a quick re-subscribe reuses it. */
  lazyCloseTimeout?: number;
}

export interface WatchOptions {
  /** Stops watching: the promise rejects with the signal's reason. The task itself keeps running. */
  signal?: AbortSignal;
}

export interface GenerateOptions extends WatchOptions {
  /** Every state of the task from creation to its end (status, progress, queuePosition, result). */
  onProgress?: (task: VideoTask) => void;
}

/** What `watchTasks` calls. */
export interface TasksWatcher {
  /** A changed task matching the filter. */
  next(task: VideoTask): void;
  /**
   * The subscription is registered on the server (after every reconnect too):
   * every change from now on reaches `next`. Read the list now (not before) to miss none.
   */
  ready?(): void;
  /** The subscription ended for good: a refused key, an invalid filter, a socket that stayed down after every retry. */
  error?(error: ReelayError): void;
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
  /**
   * Every change to the caller's tasks matching `filter` (`tasksUpdated`), until
   * the returned function is called. Reconnects as `retryAttempts` allows; `ready`
   * says when a list read will be complete.
   */
  watchTasks(filter: TaskFilter | null | undefined, watcher: TasksWatcher): () => void;
  /**
   * Any query or mutation, written with this package's `graphql()` (typed by
   * reelay's schema): its typed data, or a ReelayError for a top-level error.
   * Error results of unions come back as data here.
   */
  request<D extends TypedDocument<any, any>>(document: D, ...variables: VariablesArg<D>): Promise<ResultOf<D>>;
  /** Closes the WebSocket (if one was opened). */
  close(): Promise<void>;
}

/** The members of a result union that are not errors (every error member has `code` and `message`). */
type Success<T> = Exclude<T, { code: string; message: string }>;

/** The success member, or the error member thrown as a ReelayError. */
function unwrap<T extends { __typename: string }>(result: T): Success<T> {
  if ('code' in result) throw fromErrorResult(result as unknown as ErrorResult);
  return result as Success<T>;
}

function endpoints(url: string): { http: string; ws: string } {
  const base = url.replace(/\/+$/, '').replace(/\/graphql$/, '');
  const http = `${base}/graphql`;
  return { http, ws: http.replace(/^http/i, 'ws') };
}

const closeCode = (e: unknown): number | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
};

/** A graphql-ws failure (close event, error list or socket error) as a ReelayError. */
function wsError(e: unknown, wsUrl: string): ReelayError {
  if (e instanceof ReelayError) return e;
  if (Array.isArray(e) && e.length) {
    const first = e[0] as { message?: string; extensions?: { code?: unknown } };
    const code = typeof first.extensions?.code === 'string' ? first.extensions.code : 'GRAPHQL_ERROR';
    return new ReelayError({ kind: 'graphql', code, message: first.message ?? 'subscription error' });
  }
  const code = closeCode(e);
  if (code !== undefined) {
    const reason = String((e as { reason?: unknown }).reason || '');
    if (code === 4403) return new ReelayError({ kind: 'graphql', code: UNAUTHENTICATED, message: `WebSocket refused (4403): ${reason || 'missing or wrong key'}` });
    return networkError(`WebSocket ${wsUrl} closed (${code}${reason ? ` ${reason}` : ''})`, e);
  }
  return networkError(`cannot reach ${wsUrl}: ${describe(e)}`, e);
}

export function createReelayClient(options: ReelayClientOptions): ReelayClient {
  const { http: endpoint, ws: wsUrl } = endpoints(options.url);
  const fetchImpl = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (!fetchImpl) throw new TypeError('reelay client: no fetch available; pass options.fetch');
  const httpOptions: HttpOptions = { endpoint, apiKey: options.apiKey, fetch: fetchImpl, headers: options.headers, onAuthError: options.onAuthError };
  const run = <D extends TypedDocument<any, any>>(doc: D, ...variables: VariablesArg<D>) => request(httpOptions, doc, ...variables);

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
      lazyCloseTimeout: options.lazyCloseTimeout ?? 0,
      // A refused key (4403) will not work on a second try; dropped connections are retried
      // (taskUpdated starts with the current state, tasksUpdated says `ready` again).
      shouldRetry: (e) => closeCode(e) !== undefined && closeCode(e) !== 4403,
      retryAttempts: options.retryAttempts ?? 5,
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 500 * 2 ** retries) + Math.random() * 500)),
      on: {
        connected: () => options.onConnected?.(),
        closed: (e) => {
          if (closeCode(e) === 4403) options.onAuthError?.(wsError(e, wsUrl));
          else options.onDisconnected?.();
        },
      },
    });
    return ws;
  };

  const client: ReelayClient = {
    async createVideoTask(input) {
      const data = await run(docs.CreateVideoTask, { input });
      return unwrap(data.createVideoTask).task;
    },
    async task(id) {
      const data = await run(docs.Task, { id });
      return data.task;
    },
    async tasks(args = {}) {
      const data = await run(docs.Tasks, args);
      return data.tasks;
    },
    async cancelTask(id) {
      const data = await run(docs.CancelTask, { id });
      return unwrap(data.cancelTask).task;
    },
    async retryTask(id) {
      const data = await run(docs.RetryTask, { id });
      return unwrap(data.retryTask).task;
    },
    async deleteTask(id) {
      const data = await run(docs.DeleteTask, { id });
      return unwrap(data.deleteTask).id;
    },
    async providers() {
      const data = await run(docs.Providers);
      return data.providers;
    },
    async stats(args = {}) {
      const data = await run(docs.Stats, args);
      return data.stats;
    },
    request: run,
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
          dispose = socket.subscribe<ResultOf<typeof docs.TaskUpdated>>(
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
    watchTasks(filter, watcher) {
      let stopped = false;
      let dispose: (() => void) | undefined;
      const fail = (e: unknown) => {
        if (stopped) return;
        stopped = true;
        dispose?.();
        watcher.error?.(wsError(e, wsUrl));
      };
      const subscribe = () => {
        let socket: WsClient;
        try {
          socket = wsClient();
        } catch (e) {
          // Reported after the caller has the stop function, as every other outcome is.
          queueMicrotask(() => fail(e));
          return;
        }
        dispose = socket.subscribe<ResultOf<typeof docs.TasksUpdated>>(
          { query: source(docs.TasksUpdated), variables: { filter: filter ?? null, ready: true } },
          {
            next: (msg) => {
              if (stopped) return;
              if (msg.errors?.length) return fail(msg.errors);
              const task = msg.data?.tasksUpdated;
              if (task) watcher.next(task);
              else watcher.ready?.();
            },
            error: fail,
            // Only a server going away ends it (its feed closed): subscribe again a moment later (a new `ready` follows).
            complete: () => {
              if (!stopped) setTimeout(() => !stopped && subscribe(), 1000);
            },
          },
        );
      };
      subscribe();
      return () => {
        stopped = true;
        dispose?.();
      };
    },
    async close() {
      const current = ws;
      ws = undefined;
      await current?.dispose();
    },
  };
  return client;
}
