// Cancelling on a client's behalf. The row turns CANCELLED at once; a runner
// holding the task sees the change and stops (killing a render, cancelling
// upstream). When no live runner holds it, the upstream cancel is sent here.
import type { Db } from '../db/client.js';
import { getTask } from '../db/read-tasks.js';
import { TERMINAL_STATUSES, type TaskRow } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { cancelTaskRow } from './transitions.js';

export type CancelOutcome = { ok: true; task: TaskRow } | { ok: false; reason: 'not-found' } | { ok: false; reason: 'finished'; task: TaskRow };

export async function cancelTask(db: Db, registry: ProviderRegistry, log: Logger, id: string, owner: string): Promise<CancelOutcome> {
  const before = await getTask(db, id, owner);
  if (!before) return { ok: false, reason: 'not-found' };
  if (TERMINAL_STATUSES.includes(before.status)) return { ok: false, reason: 'finished', task: before };
  const after = await cancelTaskRow(db, id);
  if (!after) {
    const now = await getTask(db, id, owner);
    return now ? { ok: false, reason: 'finished', task: now } : { ok: false, reason: 'not-found' };
  }
  const orphaned = !before.leaseOwner || !before.leaseExpiresAt || before.leaseExpiresAt.getTime() < Date.now();
  const entry = registry.get(before.providerId);
  if (orphaned && before.providerTaskId && entry?.provider.capabilities.cancel && entry.config.kind !== 'local') {
    entry.provider.cancel(before.providerTaskId, { signal: AbortSignal.timeout(15_000) }).catch((err: Error) => log.warn({ taskId: id, err: err.message }, 'upstream cancel failed'));
  }
  return { ok: true, task: after };
}
