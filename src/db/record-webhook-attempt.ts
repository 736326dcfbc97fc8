// The outcome of one webhook delivery attempt: delivered, or due again after a
// backoff, or given up when that would fall past the delivery's deadline
// (decided on the database's clock, like the claim).
import { sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { webhookDeliveries } from './schema.js';

export interface WebhookAttempt {
  id: string;
  /** The attempt number the claim gave: a stale runner's late record changes nothing. */
  attempts: number;
  delivered: boolean;
  /** The receiver's HTTP status, when it answered. */
  status: number | null;
  /** Why it failed (null when delivered). */
  error: string | null;
  /** Wait before the next attempt. */
  retryInMs: number;
  /** No attempt later than this long after the event. */
  giveUpMs: number;
}

/** Returns 'delivered', 'failed' (due again) or 'gave_up'; null when the row was not this attempt's any more. */
export async function recordWebhookAttempt(db: DbOrTx, a: WebhookAttempt): Promise<'delivered' | 'failed' | 'gave_up' | null> {
  const [row] = await execRows<{ next: Date | string | null }>(
    db,
    sql`update ${webhookDeliveries}
        set last_status = ${a.status}::int, last_error = ${a.error}::text,
            delivered_at = case when ${a.delivered}::boolean then now() end,
            next_attempt_at = case
              when ${a.delivered}::boolean then null
              when now() + ${a.retryInMs} * interval '1 millisecond' > created_at + ${a.giveUpMs} * interval '1 millisecond' then null
              else now() + ${a.retryInMs} * interval '1 millisecond' end
        where id = ${a.id}::uuid and attempts = ${a.attempts}::int
        returning next_attempt_at as next`,
  );
  if (!row) return null;
  return a.delivered ? 'delivered' : row.next === null ? 'gave_up' : 'failed';
}
