// Take due webhook deliveries for one attempt each: graphile-worker style, any
// number of runners at once (FOR UPDATE SKIP LOCKED). A claim counts the attempt
// and pushes next_attempt_at past the attempt's deadline, so a runner that dies
// mid-attempt leaves the row due again once that passes (at least once).
import { sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { keyWebhooks, webhookDeliveries, type TaskRow } from './schema.js';
import { toTaskRow } from './task-row.js';

/** A claimed delivery: what to send, where, and the attempt it is. */
export interface ClaimedDelivery {
  id: string;
  taskId: string;
  owner: string;
  event: string;
  url: string;
  /** The task as of the event. */
  task: TaskRow;
  createdAt: Date;
  /** This attempt's number (1 for the first). */
  attempts: number;
  /** The owner's stored signing secret, read with the claim (null: none stored yet). */
  secret: string | null;
}

interface RawClaim {
  id: string;
  task_id: string;
  owner: string;
  event: string;
  url: string;
  task: Record<string, unknown> | string;
  created_at: Date | string;
  attempts: number;
  secret: string | null;
}

/** A tasks row stored as JSON (to_jsonb: snake_case keys, timestamps as text) as the TaskRow drizzle would read. */
export function taskRowFromJson(json: Record<string, unknown>): TaskRow {
  return toTaskRow(json);
}

export async function claimWebhookDeliveries(db: DbOrTx, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  if (limit <= 0) return [];
  const rows = await execRows<RawClaim>(
    db,
    sql`update ${webhookDeliveries} d
        set attempts = d.attempts + 1, next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
        from (select id from ${webhookDeliveries} where next_attempt_at <= now() order by next_attempt_at limit ${limit} for update skip locked) c
        where d.id = c.id
        returning d.id, d.task_id, d.owner, d.event, d.url, d.task, d.created_at, d.attempts,
                  (select secret from ${keyWebhooks} k where k.name = d.owner) as secret`,
  );
  return rows.map((r) => ({
    id: r.id,
    taskId: r.task_id,
    owner: r.owner,
    event: r.event,
    url: r.url,
    task: taskRowFromJson(typeof r.task === 'string' ? (JSON.parse(r.task) as Record<string, unknown>) : r.task),
    createdAt: new Date(r.created_at),
    attempts: r.attempts,
    secret: r.secret,
  }));
}
