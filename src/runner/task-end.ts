// How a task's work ends when it is interrupted: a client's cancel (cancel
// upstream too), the provider's timeout (FAILED TIMEOUT, cancel upstream), a
// shutdown (hand the task back), a lost lease (another runner has it); and
// when a write found the task no longer ours.
import { eq } from 'drizzle-orm';
import { tasks, type TaskRow } from '../db/schema.js';
import { isUpstreamError } from '../providers/errors.js';
import type { AbortKind, WorkEnv } from './task-run.js';
import { failTask } from './transitions.js';

async function cancelUpstream(providerTaskId: string | null, env: WorkEnv): Promise<void> {
  const { provider } = env.entry;
  if (!providerTaskId || !provider.capabilities.cancel) return;
  try {
    await provider.cancel(providerTaskId, { signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    env.log.warn({ err: isUpstreamError(err) ? err.message : err, provider: env.entry.config.id, providerTaskId }, 'upstream cancel failed');
  }
}

export async function onAbort(kind: AbortKind, task: TaskRow, providerTaskId: string | null, env: WorkEnv): Promise<void> {
  switch (kind) {
    case 'cancelled':
      return cancelUpstream(providerTaskId, env);
    case 'timeout': {
      const secs = Math.round(env.entry.config.timeoutMs / 1000);
      await failTask(env.db, task.id, 'TIMEOUT', `no result from ${env.entry.config.id} within ${secs} s`, env.owner).catch(() => {});
      return cancelUpstream(providerTaskId, env);
    }
    case 'shutdown':
      await env.release(task.id);
      return;
    case 'lease-lost':
      return;
  }
}

export async function onLost(task: TaskRow, providerTaskId: string | null, env: WorkEnv): Promise<void> {
  const [row] = await env.db.select({ status: tasks.status }).from(tasks).where(eq(tasks.id, task.id));
  if (row?.status === 'CANCELLED') await cancelUpstream(providerTaskId, env);
}
