// GraphQL types for the expected errors: all implement `Error { message code }`.
import { builder } from './builder.js';
import { IdempotencyConflictError, InvalidStateError, NotFoundError, RateLimitedError, ReelayError, UnsupportedError, ValidationError } from '../errors.js';

export const ErrorInterface = builder.interfaceRef<ReelayError>('Error').implement({
  description: 'Every expected failure: a readable message and a stable machine code.',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.exposeString('code'),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input was rejected; `field` names the offending input field.',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof ValidationError && !(e instanceof UnsupportedError),
  fields: (t) => ({ field: t.exposeString('field') }),
});

builder.objectType(UnsupportedError, {
  name: 'UnsupportedError',
  description: 'The chosen provider cannot do what the input asks (code UNSUPPORTED).',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof UnsupportedError,
  fields: (t) => ({ field: t.exposeString('field') }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'No such task for this client (code NOT_FOUND).',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof NotFoundError,
});

builder.objectType(InvalidStateError, {
  name: 'InvalidStateError',
  description: 'The task is in a state that does not allow this: TASK_FINISHED (cancelTask), TASK_NOT_FINISHED (deleteTask), TASK_NOT_RETRYABLE (retryTask: only FAILED or CANCELLED).',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof InvalidStateError,
});

builder.objectType(IdempotencyConflictError, {
  name: 'IdempotencyConflictError',
  description: 'The idempotencyKey was used within the last 24 hours for a different request (code IDEMPOTENCY_KEY_REUSED).',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof IdempotencyConflictError,
});

builder.objectType(RateLimitedError, {
  name: 'RateLimitedError',
  description:
    "The key is over a limit: TOO_MANY_ACTIVE_TASKS (tasks QUEUED or PROCESSING), RATE_LIMITED (creates per minute) or SPEND_LIMIT (today's cost, UTC, reached the key's max-spend-per-day); or the server is: IMAGE_CHECK_BUSY (too many input images being checked at once).",
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof RateLimitedError,
  fields: (t) => ({
    retryAfterSeconds: t.int({
      nullable: true,
      description:
        'For RATE_LIMITED: seconds until the per-minute window frees up; for SPEND_LIMIT: seconds until midnight UTC; for IMAGE_CHECK_BUSY: a short pause before trying again; null for TOO_MANY_ACTIVE_TASKS.',
      resolve: (e) => e.retryAfterSeconds,
    }),
  }),
});
