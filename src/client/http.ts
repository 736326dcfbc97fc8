// One GraphQL request over HTTP: JSON, or the GraphQL multipart request
// protocol when the variables hold a Blob (an image upload). Failures become
// ReelayErrors: no answer → NETWORK_ERROR, top-level errors → their code.
import { print, type DocumentNode } from 'graphql';
import type { DocumentDecoration, ResultOf, VariablesOf } from 'gql.tada';
import { isAuthError, networkError, ReelayError, UNAUTHENTICATED } from './errors.js';

export interface HttpOptions {
  endpoint: string;
  apiKey?: string;
  fetch: typeof fetch;
  headers?: Record<string, string>;
  /** Told of every refused key (HTTP 401 / UNAUTHENTICATED) before it is thrown. */
  onAuthError?: (error: ReelayError) => void;
}

/** A document whose result and variable types are known (a gql.tada `graphql()` document). */
export type TypedDocument<Result = unknown, Variables = Record<string, unknown>> = DocumentNode & DocumentDecoration<Result, Variables>;

/** The variables argument: optional when the document needs none. */
export type VariablesArg<D> = {} extends VariablesOf<D> ? [variables?: VariablesOf<D>] : [variables: VariablesOf<D>];

interface GraphQLResponse {
  data?: unknown;
  errors?: Array<{ message?: string; extensions?: { code?: unknown; field?: unknown } }>;
}

const printed = new WeakMap<DocumentNode, string>();

/** The document as text (printed once per document). */
export function source(doc: DocumentNode): string {
  let s = printed.get(doc);
  if (s === undefined) printed.set(doc, (s = print(doc)));
  return s;
}

/** Replaces every Blob in `value` with null, returning the copy and where each Blob was (multipart `map` paths). */
function extractFiles(value: unknown, path: string, files: Array<{ path: string; blob: Blob }>): unknown {
  if (typeof Blob !== 'undefined' && value instanceof Blob) {
    files.push({ path, blob: value });
    return null;
  }
  if (Array.isArray(value)) return value.map((v, i) => extractFiles(v, `${path}.${i}`, files));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, extractFiles(v, `${path}.${k}`, files)]));
  }
  return value;
}

function body(query: string, variables: Record<string, unknown> | undefined): { body: string | FormData; multipart: boolean } {
  const files: Array<{ path: string; blob: Blob }> = [];
  const vars = variables === undefined ? undefined : extractFiles(variables, 'variables', files);
  const operations = JSON.stringify({ query, variables: vars });
  if (!files.length) return { body: operations, multipart: false };
  const form = new FormData();
  form.append('operations', operations);
  form.append('map', JSON.stringify(Object.fromEntries(files.map((f, i) => [String(i), [f.path]]))));
  files.forEach((f, i) => form.append(String(i), f.blob, (f.blob as { name?: string }).name || 'upload'));
  return { body: form, multipart: true };
}

/** Sends the document; its typed result, or a ReelayError (a refused key is told to `onAuthError` first). */
export async function request<D extends TypedDocument<any, any>>(opts: HttpOptions, doc: D, ...[variables]: VariablesArg<D>): Promise<ResultOf<D>> {
  try {
    return (await send(opts, source(doc), variables as Record<string, unknown> | undefined)) as ResultOf<D>;
  } catch (e) {
    if (isAuthError(e)) opts.onAuthError?.(e);
    throw e;
  }
}

async function send(opts: HttpOptions, query: string, variables: Record<string, unknown> | undefined): Promise<unknown> {
  const { body: payload, multipart } = body(query, variables);
  const headers: Record<string, string> = {
    accept: 'application/graphql-response+json, application/json',
    ...opts.headers,
  };
  // Multipart POSTs must carry a CSRF header (see README "Browsers and other sites"); fetch sets the boundary.
  if (multipart) headers['x-graphql-yoga-csrf'] = '1';
  else headers['content-type'] = 'application/json';
  if (opts.apiKey) headers.authorization = `Bearer ${opts.apiKey}`;

  let res: Response;
  try {
    res = await opts.fetch(opts.endpoint, { method: 'POST', headers, body: payload });
  } catch (e) {
    throw networkError(`cannot reach ${opts.endpoint}: ${describe(e)}`, e);
  }
  let json: GraphQLResponse;
  try {
    json = (await res.json()) as GraphQLResponse;
  } catch (e) {
    throw networkError(`${opts.endpoint} answered HTTP ${res.status} without a GraphQL response`, e, res.status);
  }
  const first = json.errors?.[0];
  if (first) {
    const code = typeof first.extensions?.code === 'string' ? first.extensions.code : res.status === 401 ? UNAUTHENTICATED : 'GRAPHQL_ERROR';
    const field = typeof first.extensions?.field === 'string' ? first.extensions.field : undefined;
    throw new ReelayError({ kind: 'graphql', code, message: first.message ?? 'GraphQL error', field, status: res.status });
  }
  if (json.data == null) throw networkError(`${opts.endpoint} answered HTTP ${res.status} without data`, undefined, res.status);
  return json.data;
}

/** The useful part of a fetch failure (undici hides the reason in `cause`). */
export function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}
