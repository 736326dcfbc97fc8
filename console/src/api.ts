// The console's connection to reelay: the typed client (reelay/client, built
// from src/client), set up for a page: this origin, the key from the browser,
// reconnecting for as long as the page is open. The console's own documents
// (documents.ts) go through the client's `request`, typed by the same schema.
import { createReelayClient, TASK_STATUSES, TERMINAL_STATUSES, type ReelayClient, type TaskStatus } from '../../src/client/index.js';

export { isAuthError, isReelayError, type CreateVideoTaskInput, type Provider, type ReelayClient, type ReelayError, type TaskFilter, type TaskStatus, type VideoTask as Task } from '../../src/client/index.js';

export const STATUSES: readonly TaskStatus[] = TASK_STATUSES;
export const FINAL: ReadonlySet<TaskStatus> = new Set(TERMINAL_STATUSES);

export interface ConsoleClientOptions {
  key: string | null;
  /** The key was refused (401, or the socket closed with 4403): ask for one. */
  onAuthError(): void;
  /** The socket dropped; it reconnects, and each subscription says `ready` again. */
  onDisconnected(): void;
}

export function createConsoleClient(opts: ConsoleClientOptions): ReelayClient {
  return createReelayClient({
    url: location.origin,
    apiKey: opts.key ?? undefined,
    onAuthError: () => opts.onAuthError(),
    onDisconnected: () => opts.onDisconnected(),
    // Keep trying while the page is open (at most 10 s apart).
    retryAttempts: Infinity,
    // A filter change unsubscribes and subscribes again at once: keep the socket meanwhile.
    lazyCloseTimeout: 2000,
  });
}
