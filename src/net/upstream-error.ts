// One error type for everything an upstream can do wrong. The runner decides
// retries from `retryable` and "never pay twice" from `maybeCreated` alone.

export interface UpstreamErrorOptions {
  code: string;
  message: string;
  /** HTTP status, when the upstream answered. */
  status?: number;
  /** A later identical call may succeed (network trouble, 429, 5xx). */
  retryable: boolean;
  /**
   * The upstream may have created a task although we got no usable answer
   * (timeout or reset after the request was sent, 5xx, unreadable 2xx).
   */
  maybeCreated: boolean;
  /** Seconds the upstream asked us to wait (Retry-After). */
  retryAfterSeconds?: number;
  cause?: unknown;
}

export class UpstreamError extends Error {
  readonly code: string;
  readonly status?: number;
  readonly retryable: boolean;
  readonly maybeCreated: boolean;
  readonly retryAfterSeconds?: number;

  constructor(opts: UpstreamErrorOptions) {
    super(opts.message, { cause: opts.cause });
    this.name = 'UpstreamError';
    this.code = opts.code;
    this.status = opts.status;
    this.retryable = opts.retryable;
    this.maybeCreated = opts.maybeCreated;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

export function isUpstreamError(err: unknown): err is UpstreamError {
  return err instanceof UpstreamError;
}

/** A permanent, readable failure decided by the adapter itself (bad input, vanished task). */
export function permanentError(code: string, message: string, status?: number): UpstreamError {
  return new UpstreamError({ code, message, status, retryable: false, maybeCreated: false });
}
