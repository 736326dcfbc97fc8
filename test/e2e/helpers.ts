// Shared steps of the per-kind end-to-end tests: the real server (API + runner
// on PGlite) in front of an upstream emulator, driven through GraphQL over HTTP
// and watched through a graphql-ws `taskUpdated` subscription.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import type { TestApp } from '../support/app.js';
import { subscribe, wsClient } from '../support/ws.js';
import { TINY_PNG } from '../emulators/common.js';

export const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'] as const;

export const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id status provider } }
      ... on Error { code message }
      ... on ValidationError { field }
      ... on UnsupportedError { field }
    }
  }
`;

const TASK_FIELDS = /* GraphQL */ `
  id status progress upstreamStatus providerTaskId mediaType attempts
  result { url upstreamUrl contentType sizeBytes durationSeconds width height }
  error { code message }
`;

const WATCH = /* GraphQL */ `subscription Watch($id: ID!) { taskUpdated(id: $id) { ${TASK_FIELDS} } }`;
const READ = /* GraphQL */ `query Read($id: ID!) { task(id: $id) { ${TASK_FIELDS} events { status progress message } } }`;
const CANCEL = /* GraphQL */ `
  mutation Cancel($id: ID!) {
    cancelTask(id: $id) { __typename ... on CancelTaskSuccess { task { id status } } ... on Error { code message } }
  }
`;

export interface TaskView {
  id: string;
  status: string;
  progress: number | null;
  upstreamStatus: string | null;
  providerTaskId: string | null;
  mediaType: string;
  attempts: number;
  result: { url: string; upstreamUrl: string | null; contentType: string | null; sizeBytes: number; durationSeconds: number | null; width: number | null; height: number | null } | null;
  error: { code: string; message: string } | null;
  events?: Array<{ status: string; progress: number | null; message: string | null }>;
}

export interface CreateInput {
  prompt: string;
  provider?: string;
  [key: string]: unknown;
}

/** A remote provider entry for the test config: quick polling, loopback downloads allowed. */
export function providerEntry(id: string, kind: string, baseUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, kind, baseUrl, pollIntervalMs: 100, timeoutMs: 20_000, maxConcurrency: 8, allowHosts: ['127.0.0.1'], ...extra };
}

/** createVideoTask as it answers (success or an error type). */
export async function create(t: TestApp, input: CreateInput): Promise<any> {
  const res = await t.gql(CREATE, { input });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data.createVideoTask;
}

/** createVideoTask that must succeed; returns the task id. */
export async function createOk(t: TestApp, input: CreateInput): Promise<string> {
  const out = await create(t, input);
  expect(out.__typename, JSON.stringify(out)).toBe('CreateVideoTaskSuccess');
  return out.task.id as string;
}

export interface Watched {
  final: TaskView;
  /** Every state the subscription delivered, first one included. */
  values: TaskView[];
}

/** Subscribe to a task and wait until it is terminal and the server completed the subscription. */
export async function watch(t: TestApp, id: string, timeoutMs = 15_000): Promise<Watched> {
  const client = wsClient(t.wsUrl);
  const sub = subscribe<TaskView>(client, WATCH, { id }, (d) => d.taskUpdated);
  try {
    const final = await sub.waitFor((v) => (TERMINAL as readonly string[]).includes(v.status), timeoutMs);
    await sub.completed;
    expect(sub.errors).toEqual([]);
    return { final, values: sub.values };
  } finally {
    sub.dispose();
    await client.dispose();
  }
}

/** Subscribe and resolve once `pred` holds; returns the subscription to keep watching. */
export async function watchUntil(t: TestApp, id: string, pred: (v: TaskView) => boolean, timeoutMs = 15_000) {
  const client = wsClient(t.wsUrl);
  const sub = subscribe<TaskView>(client, WATCH, { id }, (d) => d.taskUpdated);
  const hit = await sub.waitFor(pred, timeoutMs);
  return {
    hit,
    sub,
    /** Wait for the terminal state, then close. */
    async end(ms = 15_000): Promise<TaskView> {
      try {
        const final = await sub.waitFor((v) => (TERMINAL as readonly string[]).includes(v.status), ms);
        await sub.completed;
        return final;
      } finally {
        sub.dispose();
        await client.dispose();
      }
    },
  };
}

/** Create and watch to the end. */
export async function run(t: TestApp, input: CreateInput, timeoutMs?: number): Promise<Watched & { id: string }> {
  const id = await createOk(t, input);
  return { id, ...(await watch(t, id, timeoutMs)) };
}

/** The task as the `task` query shows it, with its events. */
export async function read(t: TestApp, id: string): Promise<TaskView> {
  const res = await t.gql(READ, { id });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data.task as TaskView;
}

export async function cancel(t: TestApp, id: string): Promise<any> {
  const res = await t.gql(CANCEL, { id });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data.cancelTask;
}

/** GET a URL and return its bytes and content type. */
export async function fetchBytes(url: string, headers?: Record<string, string>): Promise<{ status: number; contentType: string | null; bytes: Buffer }> {
  const res = await fetch(url, { headers });
  return { status: res.status, contentType: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) };
}

/**
 * A COMPLETED task's stored file is byte-for-byte the upstream's: compares
 * reelay's `result.url` with `expected`, and checks contentType and sizeBytes.
 */
export async function expectStoredBytes(t: TestApp, task: TaskView, expected: Buffer, contentType = 'video/mp4'): Promise<void> {
  expect(task.status).toBe('COMPLETED');
  const result = task.result!;
  expect(result.url.startsWith(`${t.url}/files/${task.id}/`), result.url).toBe(true);
  const stored = await fetchBytes(result.url);
  expect(stored.status).toBe(200);
  expect(stored.contentType).toBe(contentType);
  expect(result.contentType).toBe(contentType);
  expect(result.sizeBytes).toBe(expected.length);
  expect(stored.bytes.equals(expected)).toBe(true);
}

/** The tiny PNG the emulators know, as a data URL for `image: { base64 }`. */
export const PNG_DATA_URL = `data:image/png;base64,${TINY_PNG.toString('base64')}`;

/** A loopback server serving the tiny PNG, for `image: { url }`; counts its hits. */
export async function startImageServer(): Promise<{ url: (name?: string) => string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    if (!req.url?.endsWith('.png')) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(TINY_PNG.length) }).end(TINY_PNG);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: (name = 'cat.png') => `${base}/${name}`,
    hits: () => hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Counts requests an emulator receives during `fn`. */
export async function countDuring<T>(count: () => number, fn: () => Promise<T>): Promise<{ value: T; delta: number }> {
  const before = count();
  const value = await fn();
  return { value, delta: count() - before };
}
