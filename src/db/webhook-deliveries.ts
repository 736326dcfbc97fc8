// Reads of the webhook outbox for the API (VideoTask.webhookDeliveries).
import { asc, sql } from 'drizzle-orm';
import { uuidArray, type DbOrTx } from './client.js';
import { webhookDeliveries } from './schema.js';

export interface WebhookDeliveryRow {
  id: string;
  taskId: string;
  event: string;
  url: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
  nextAttemptAt: Date | null;
}

/** The deliveries of these tasks, oldest first (the snapshots they carry are not read). */
export async function getWebhookDeliveries(db: DbOrTx, taskIds: readonly string[]): Promise<WebhookDeliveryRow[]> {
  if (!taskIds.length) return [];
  const d = webhookDeliveries;
  return db
    .select({ id: d.id, taskId: d.taskId, event: d.event, url: d.url, attempts: d.attempts, lastStatus: d.lastStatus, lastError: d.lastError, deliveredAt: d.deliveredAt, nextAttemptAt: d.nextAttemptAt })
    .from(d)
    .where(sql`${d.taskId} = any(${uuidArray(taskIds)})`)
    .orderBy(asc(d.taskId), asc(d.createdAt), asc(d.id));
}
