// The queuePosition of reelay before the task counters (a count per task and
// per owner over the queue index), kept as the oracle the tests and the
// million-row benchmark compare src/db/queue-positions.ts with.
import { sql, type SQL } from 'drizzle-orm';
import { execRows, type DbOrTx } from '../../src/db/client.js';
import { ownerTurns } from '../../src/db/fair-queue.js';
import { tasks } from '../../src/db/schema.js';

/**
 * 1-based place of QUEUED tasks in their provider's fair order, from per-owner
 * counts: the k-th queued task of an owner follows its own k-1 and, of each
 * other owner with n queued, min(k-1, n) plus that owner's k-th when its turn
 * comes first. Each owner's queue is counted once per batch, up to the largest
 * k asked for; each task's k is a count within its own owner's queue.
 */
export async function scanQueuePositions(db: DbOrTx, ids: readonly string[]): Promise<Map<string, number>> {
  if (!ids.length) return new Map();
  const idList = sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `);
  const rows = await execRows<{ id: string; position: number }>(
    db,
    sql`with recursive
      t as materialized (
        select q.id, q.owner, q.provider_id, q.created_at
        from unnest(array[${idList}]) as i (id) join ${tasks} q on q.id = i.id
        where q.status = 'QUEUED'
      ),
      ${ownerTurns(sql`select distinct provider_id from t`)},
      ranked as materialized (
        select t.id, t.provider_id, t.owner, (
          select count(*) from ${tasks} u
          where u.status = 'QUEUED' and u.provider_id = t.provider_id and u.owner = t.owner and (u.created_at, u.id) <= (t.created_at, t.id)
        )::int as k
        from t
      ),
      counts as materialized (
        select o.provider_id, o.owner, o.last_started, o.first_created, (
          select count(*) from (
            select 1 from ${tasks} v where v.status = 'QUEUED' and v.provider_id = o.provider_id and v.owner = o.owner
            limit (select max(r.k) from ranked r where r.provider_id = o.provider_id)
          ) w
        )::int as n
        from turns o
      ),
      ahead as (
        select r.id, sum(
          least(p.n, r.k - 1)
          + case when p.n >= r.k and (p.last_started, p.first_created, p.owner) < (o.last_started, o.first_created, o.owner) then 1 else 0 end
        ) as n
        from ranked r
        join counts o on o.provider_id = r.provider_id and o.owner = r.owner
        join counts p on p.provider_id = r.provider_id and p.owner <> r.owner
        group by r.id
      )
      select r.id, (r.k + coalesce(a.n, 0))::int as position
      from ranked r left join ahead a on a.id = r.id`,
  );
  return new Map(rows.map((r) => [r.id, Number(r.position)]));
}
