// ReelayError: every failure the client reports, with a stable `code`. `kind`
// tells apart an error the API returned as data (a union result such as
// ValidationError), a top-level GraphQL error (UNAUTHENTICATED, …) and a server
// that could not be reached or answered garbage (NETWORK_ERROR).

/** The server could not be reached, or its answer was not GraphQL. */
export const NETWORK_ERROR = 'NETWORK_ERROR';

export type ReelayErrorKind =
  /** An expected failure returned as data: a member of a result union (`ValidationError`, `NotFoundError`, …). */
  | 'api'
  /** A top-level GraphQL error: `UNAUTHENTICATED`, `BAD_USER_INPUT`, `GRAPHQL_VALIDATION_FAILED`, … */
  | 'graphql'
  /** No usable answer: connection refused, DNS, a closed WebSocket, a non-GraphQL response. */
  | 'network';

export interface ReelayErrorInit {
  kind: ReelayErrorKind;
  code: string;
  message: string;
  /** The input field at fault (ValidationError, UnsupportedError, BAD_USER_INPUT). */
  field?: string | null;
  /** RateLimitedError: when to try again. */
  retryAfterSeconds?: number | null;
  /** The GraphQL type of an `api` error, e.g. "ValidationError". */
  type?: string;
  /** The HTTP status, when there was a response. */
  status?: number;
  cause?: unknown;
}

export class ReelayError extends Error {
  override readonly name = 'ReelayError';
  readonly kind: ReelayErrorKind;
  /** Stable machine code: the API's own (`UNKNOWN_PROVIDER`, `NOT_FOUND`, …) or `NETWORK_ERROR`. */
  readonly code: string;
  readonly field: string | null;
  readonly retryAfterSeconds: number | null;
  readonly type: string | null;
  readonly status: number | null;

  constructor(init: ReelayErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.code = init.code;
    this.field = init.field ?? null;
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
    this.type = init.type ?? null;
    this.status = init.status ?? null;
  }

  /** True when the server was not reached (or did not answer usably): worth retrying later. */
  get isNetworkError(): boolean {
    return this.kind === 'network';
  }
}

export function isReelayError(e: unknown): e is ReelayError {
  return e instanceof ReelayError;
}

/** The key is missing, wrong or no longer works: HTTP 401, code UNAUTHENTICATED, or a WebSocket closed with 4403. */
export function isAuthError(e: unknown): e is ReelayError {
  return e instanceof ReelayError && (e.code === UNAUTHENTICATED || e.status === 401);
}

/** The code of a refused key, over HTTP and over the WebSocket. */
export const UNAUTHENTICATED = 'UNAUTHENTICATED';

/** A member of an error union as the API returns it (every one implements `Error`). */
export interface ErrorResult {
  __typename: string;
  code: string;
  message: string;
  field?: string | null;
  retryAfterSeconds?: number | null;
}

export function fromErrorResult(e: ErrorResult): ReelayError {
  return new ReelayError({ kind: 'api', type: e.__typename, code: e.code, message: e.message, field: e.field, retryAfterSeconds: e.retryAfterSeconds });
}

export function networkError(message: string, cause?: unknown, status?: number): ReelayError {
  return new ReelayError({ kind: 'network', code: NETWORK_ERROR, message, cause, status });
}
