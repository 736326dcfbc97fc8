// GraphQL types for the expected errors: all implement `Error { message code }`.
import { builder } from './builder.js';
import { InvalidStateError, NotFoundError, ReelayError, UnsupportedError, ValidationError } from '../errors.js';

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
  description: 'The task is in a state that does not allow this (e.g. TASK_FINISHED, TASK_NOT_FINISHED).',
  interfaces: [ErrorInterface],
  isTypeOf: (e) => e instanceof InvalidStateError,
});
