// Media that is not what it claims to be. The code is the one the caller
// reports (INVALID_IMAGE, IMAGE_TOO_MANY_PIXELS, INVALID_RESULT); the message says why.
export class InvalidMediaError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidMediaError';
  }
}
