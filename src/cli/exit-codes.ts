// The CLI's exit codes and the failures that choose them, so every command
// ends the same way: 0 done (COMPLETED), 1 the task FAILED or was CANCELLED
// (or the download failed), 2 usage errors and errors the API returned,
// 3 the server could not be reached, 130 interrupted (the task keeps running).
import { isReelayError } from '../client/index.js';

export const EXIT = { OK: 0, TASK_FAILED: 1, USAGE: 2, UNREACHABLE: 3, INTERRUPTED: 130 } as const;

/** A mistake in the command line (bad option value, missing file). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

/** The exit code for a failure thrown by a command. */
export function exitCodeFor(e: unknown): number {
  if (isReelayError(e)) return e.kind === 'network' ? EXIT.UNREACHABLE : EXIT.USAGE;
  if (e instanceof UsageError) return EXIT.USAGE;
  return EXIT.TASK_FAILED;
}

/** The failure as `{ code, message, field? }`, for stderr and --json. */
export function describeFailure(e: unknown): { code: string; message: string; field?: string } {
  if (isReelayError(e)) return { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) };
  if (e instanceof UsageError) return { code: e.code, message: e.message };
  const err = e as { code?: unknown; message?: unknown };
  return { code: typeof err?.code === 'string' ? err.code : 'ERROR', message: typeof err?.message === 'string' ? err.message : String(e) };
}
