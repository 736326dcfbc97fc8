// Expected failures of the domain (bad input, missing task, wrong state), shared by
// the layers that detect them and the schema that returns them as data. Each has a stable `code`.
export class ReelayError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input; `field` is the input path, e.g. "image.url". */
export class ValidationError extends ReelayError {
  constructor(
    readonly field: string,
    message: string,
    code = 'VALIDATION_ERROR',
  ) {
    super(code, message);
  }
}

export class NotFoundError extends ReelayError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** The task is in a state that does not allow the operation. */
export class InvalidStateError extends ReelayError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** The chosen provider cannot do what the request asks. */
export class UnsupportedError extends ValidationError {
  constructor(field: string, message: string) {
    super(field, message, 'UNSUPPORTED');
  }
}

/** An idempotency key already used (within its 24 h) for a different request. */
export class IdempotencyConflictError extends ReelayError {
  constructor(message: string) {
    super('IDEMPOTENCY_KEY_REUSED', message);
  }
}

/**
 * A key is over one of its limits: TOO_MANY_ACTIVE_TASKS (QUEUED + PROCESSING)
 * or RATE_LIMITED (creates per minute; `retryAfterSeconds` says when the window frees up);
 * or SPEND_LIMIT (its tasks that finished today, UTC, cost its daily cap; `retryAfterSeconds`: until midnight UTC);
 * or the server is: IMAGE_CHECK_BUSY (no image decode slot freed up in time).
 */
export class RateLimitedError extends ReelayError {
  constructor(
    code: 'TOO_MANY_ACTIVE_TASKS' | 'RATE_LIMITED' | 'SPEND_LIMIT' | 'IMAGE_CHECK_BUSY',
    message: string,
    readonly retryAfterSeconds: number | null,
  ) {
    super(code, message);
  }
}
