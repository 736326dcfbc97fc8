// Per-key create limits: tasks QUEUED or PROCESSING, creates in the last
// minute (a sliding window kept in recent_creates), and the day's spend (what
// the key's tasks that finished since midnight UTC cost, from the history). Checked inside the create
// transaction, in the statement right after `lockOwner`'s (its snapshot is
// taken once the lock is held), so concurrent creates of one key, in any API
// process, count exactly.
import { sql, type SQL } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { recentCreates, tasks } from './schema.js';
import { spentTodaySql } from './read-history.js';
import { RateLimitedError } from '../errors.js';

const OWNER_LOCK = 7_270_003;

/** Limits per key; 0 turns one off. */
export interface KeyLimits {
  maxActive: number;
  perMinute: number;
  /**
   * Spend cap per UTC day (in the providers' currency; amounts in several
   * currencies are added as they are). Only tasks that finished count: tasks
   * still queued or running are not reserved against it, so the day may end
   * over the cap by what they cost.
   */
  maxSpendPerDay?: number;
}

/** Does any limit apply? (none: a create needs no lock) */
export function anyLimit(limits: KeyLimits | undefined): limits is KeyLimits {
  return !!limits && (limits.maxActive > 0 || limits.perMinute > 0 || (limits.maxSpendPerDay ?? 0) > 0);
}

/** Serialize the creates of one owner until the transaction ends (a hash collision only serializes two owners). */
export async function lockOwner(tx: DbOrTx, owner: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${OWNER_LOCK}, hashtext(${owner}))`);
}

/**
 * Throw RateLimitedError when `owner` may not create a task now under `limits`
 * (the key's own, or the defaults). Reads at most as many rows as the limits,
 * through the (owner, status) and (owner, created_at) indexes.
 */
export async function checkCreateLimits(tx: DbOrTx, owner: string, limits: KeyLimits): Promise<void> {
  const spendCap = limits.maxSpendPerDay ?? 0;
  const [row] = await execRows<{ active: number | null; frees_in: number | null; spent: number | null; midnight_in: number | null }>(
    tx,
    sql`select
        ${limits.maxActive > 0 ? sql`(select count(*)::int from (select 1 from ${tasks} a where a.owner = ${owner} and a.status in ('QUEUED', 'PROCESSING') limit ${limits.maxActive}) a)` : sql`null::int`} as active,
        -- The perMinute-th newest create of the last minute, if any: the window frees up when it leaves.
        ${
          limits.perMinute > 0
            ? sql`(select extract(epoch from r.created_at + interval '1 minute' - now())::float8 from ${recentCreates} r
                   where r.owner = ${owner} and r.created_at > now() - interval '1 minute'
                   order by r.created_at desc offset ${limits.perMinute - 1} limit 1)`
            : sql`null::float8`
        } as frees_in,
        ${spendCap > 0 ? spentTodaySql(owner) : sql`null::float8`} as spent,
        extract(epoch from date_trunc('day', now(), 'UTC') + interval '1 day' - now())::float8 as midnight_in`,
  );
  if (row!.active !== null && Number(row!.active) >= limits.maxActive) {
    throw new RateLimitedError('TOO_MANY_ACTIVE_TASKS', `this key already has ${limits.maxActive} tasks queued or processing, its limit; create more when some finish`, null);
  }
  if (row!.spent !== null && Number(row!.spent) >= spendCap) {
    const seconds = Math.max(1, Math.ceil(Number(row!.midnight_in)));
    throw new RateLimitedError('SPEND_LIMIT', `this key's tasks cost ${Number(row!.spent)} today (UTC), its daily cap of ${spendCap}; it may create again at midnight UTC`, seconds);
  }
  if (row!.frees_in !== null) {
    const seconds = Math.min(60, Math.max(1, Math.ceil(Number(row!.frees_in))));
    throw new RateLimitedError('RATE_LIMITED', `this key created ${limits.perMinute} tasks in the last minute, its limit; retry in ${seconds} s`, seconds);
  }
}

/** Data-modifying CTE bodies (for the create statement) that count a create in the owner's per-minute window, dropping what has left it. */
export function recordCreateCtes(owner: string): SQL[] {
  return [
    sql`delete from ${recentCreates} where owner = ${owner} and created_at <= now() - interval '1 minute'`,
    sql`insert into ${recentCreates} (owner) values (${owner})`,
  ];
}
