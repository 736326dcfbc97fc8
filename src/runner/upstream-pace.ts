// How fast a runner may talk to an upstream: requestsPerMinute tokens
// (shared by every runner process) and the backoff after a refused or failed request.
import { setTimeout as sleep } from 'node:timers/promises';
import type { UpstreamError } from '../providers/errors.js';
import type { RegisteredProvider } from '../providers/registry.js';
import type { Db } from '../db/client.js';
import { backoffMs } from './backoff.js';
import { takeToken } from '../db/take-rate-token.js';

const POLL_BACKOFF_CAP_MS = 60_000;

/** Wait for a request token when the provider has requestsPerMinute. */
export async function rateLimit(env: { db: Db; entry: RegisteredProvider }, signal: AbortSignal): Promise<void> {
  const rpm = env.entry.config.requestsPerMinute;
  if (!rpm) return;
  for (;;) {
    const wait = await takeToken(env.db, env.entry.config.id, rpm);
    if (!wait) return;
    await sleep(wait, undefined, { signal });
  }
}

/** Backoff with jitter, at least what the upstream's Retry-After asks. */
export function retryDelay(err: UpstreamError, attempt: number, baseMs: number): number {
  const jittered = backoffMs(attempt, Math.max(500, baseMs), POLL_BACKOFF_CAP_MS);
  return err.retryAfterSeconds !== undefined ? Math.max(jittered, err.retryAfterSeconds * 1000) : jittered;
}
