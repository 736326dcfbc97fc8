// Claiming work for this runner (the SQL is db/claim-tasks.ts): counts the
// tasks taken over from a holder whose lease lapsed.
import { claimTasks, type ClaimOptions } from '../db/claim-tasks.js';
import type { Db } from '../db/client.js';
import type { TaskRow } from '../db/schema.js';
import { leaseRecoveries } from '../metrics.js';

export type { ClaimOptions, ProviderSlots } from '../db/claim-tasks.js';

export async function claimDueTasks(db: Db, opts: ClaimOptions): Promise<TaskRow[]> {
  const { tasks, recovered } = await claimTasks(db, opts);
  if (recovered) leaseRecoveries.inc(recovered);
  return tasks;
}
