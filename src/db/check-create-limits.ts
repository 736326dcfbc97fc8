// Per-key create limits: tasks QUEUED or PROCESSING, and creates in the last
// minute (a sliding window kept in recent_creates). Checked inside the create
// transaction after `lockOwner`, so concurrent creates of one key, in any API
// process, count exactly.
import { sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { apiKeys, recentCreates, tasks } from './schema.js';
import { RateLimitedError } from '../errors.js';

const OWNER_LOCK = 7_270_003;

/** Limits per key; 0 turns one off. */
export interface KeyLimits {
  maxActive: number;
  perMinute: number;
}

/** Serialize the creates of one owner until the transaction ends (a hash collision only serializes two owners). */
export async function lockOwner(tx: DbOrTx, owner: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${OWNER_LOCK}, hashtext(${owner}))`);
}

/**
 * Throw RateLimitedError when `owner` may not create a task now. `defaults`
 * apply unless the owner's stored key overrides them. Reads at most as many
 * rows as the limits, through the (owner, status) and (owner, created_at) indexes.
 */
export async function checkCreateLimits(tx: DbOrTx, owner: string, defaults: KeyLimits): Promise<KeyLimits> {
  const [row] = await execRows<{ max_active: number; per_minute: number; active: number | null; frees_in: number | null }>(
    tx,
    sql`with lim as (
        select coalesce(k.max_active_tasks, ${defaults.maxActive}::int) as max_active,
               coalesce(k.creates_per_minute, ${defaults.perMinute}::int) as per_minute
        from (values (1)) as one (x) left join ${apiKeys} k on k.name = ${owner} and k.revoked_at is null
      )
      select lim.max_active, lim.per_minute,
        case when lim.max_active > 0 then (
          select count(*)::int from (
            select 1 from ${tasks} a where a.owner = ${owner} and a.status in ('QUEUED', 'PROCESSING') limit (select max_active from lim)
          ) a
        ) end as active,
        -- The per_minute-th newest create of the last minute, if any: the window frees up when it leaves.
        case when lim.per_minute > 0 then (
          select extract(epoch from r.created_at + interval '1 minute' - now())::float8 from ${recentCreates} r
          where r.owner = ${owner} and r.created_at > now() - interval '1 minute'
          order by r.created_at desc offset (select per_minute from lim) - 1 limit 1
        ) end as frees_in
      from lim`,
  );
  const maxActive = Number(row!.max_active);
  if (row!.active !== null && Number(row!.active) >= maxActive) {
    throw new RateLimitedError('TOO_MANY_ACTIVE_TASKS', `this key already has ${maxActive} tasks queued or processing, its limit; create more when some finish`, null);
  }
  if (row!.frees_in !== null) {
    const seconds = Math.min(60, Math.max(1, Math.ceil(Number(row!.frees_in))));
    throw new RateLimitedError('RATE_LIMITED', `this key created ${Number(row!.per_minute)} tasks in the last minute, its limit; retry in ${seconds} s`, seconds);
  }
  return { maxActive, perMinute: Number(row!.per_minute) };
}

/** Count a create in the owner's per-minute window, dropping what has left it. */
export async function recordCreate(tx: DbOrTx, owner: string): Promise<void> {
  await tx.execute(
    sql`with expired as (delete from ${recentCreates} where owner = ${owner} and created_at <= now() - interval '1 minute')
        insert into ${recentCreates} (owner) values (${owner})`,
  );
}
