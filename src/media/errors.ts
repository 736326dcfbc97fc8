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

/**
 * Every image decode slot stayed busy for the whole bounded wait: the image was
 * not judged (code IMAGE_CHECK_BUSY); trying again later may succeed.
 */
export class ImageCheckBusyError extends Error {
  readonly code = 'IMAGE_CHECK_BUSY';
  constructor(readonly waitedMs: number) {
    super(`too many images are being checked at once; none finished within ${Math.round(waitedMs / 100) / 10} s, try again shortly`);
    this.name = 'ImageCheckBusyError';
  }
}
