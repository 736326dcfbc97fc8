// queuePosition: the 1-based place of QUEUED tasks in their provider's fair
// order (src/db/fair-queue.ts). The k-th queued task of an owner follows its
// own k-1 and, of each other owner with n queued, min(k-1, n) plus that owner's
// k-th when its turn comes first (never served there, or served longer ago,
// then oldest queued task, then owner name).
//
// Nothing here scans a queue per task. The n of every owner comes from the task
// counters (count-tasks.ts; a count per owner until they are back-filled). k
// comes from the owner's queue index (tasks_queue_owner, index-only): for the
// tasks asked about of one owner, one count from the nearer end of its queue to
// the first of them, then one walk over the span they cover. A page of a list
// is a short span near one end, so a page costs about its own size.
import { sql } from 'drizzle-orm';
import { execRows, uuidArray, type DbOrTx } from './client.js';
import { countersAreReady } from './count-tasks.js';
import { taskCountDeltas, taskCounts, tasks } from './schema.js';

/**
 * Queued tasks per owner at the providers of `g` (a CTE with provider_id),
 * exact: from the counters once they are back-filled, counted before.
 */
const queuedPerOwner = sql`
  select c.provider_id, c.owner, sum(c.tasks)::bigint as n from (
    select provider_id, owner, tasks from ${taskCounts} where status = 'QUEUED' and provider_id in (select provider_id from g)
    union all
    select provider_id, owner, tasks from ${taskCountDeltas} where status = 'QUEUED' and provider_id in (select provider_id from g)
  ) c where ${countersAreReady} group by c.provider_id, c.owner having sum(c.tasks) > 0
  union all
  select q.provider_id, q.owner, count(*)::bigint as n from ${tasks} q
  where not ${countersAreReady} and q.status = 'QUEUED' and q.provider_id in (select provider_id from g)
  group by q.provider_id, q.owner`;

// An owner's turn at a provider: when it was last served there, and its oldest queued task.
const lastStarted = (p: ReturnType<typeof sql>, o: ReturnType<typeof sql>) =>
  sql`coalesce((select max(s.started_at) from ${tasks} s where s.provider_id = ${p} and s.owner = ${o}), '-infinity')`;
const firstQueued = (p: ReturnType<typeof sql>, o: ReturnType<typeof sql>) =>
  sql`(select f.created_at from ${tasks} f where f.status = 'QUEUED' and f.provider_id = ${p} and f.owner = ${o}
       order by f.provider_id, f.owner, f.created_at, f.id limit 1)`;
const lastQueued = (p: ReturnType<typeof sql>, o: ReturnType<typeof sql>) =>
  sql`(select f.created_at from ${tasks} f where f.status = 'QUEUED' and f.provider_id = ${p} and f.owner = ${o}
       order by f.provider_id desc, f.owner desc, f.created_at desc, f.id desc limit 1)`;

export async function getQueuePositions(db: DbOrTx, ids: readonly string[]): Promise<Map<string, number>> {
  if (!ids.length) return new Map();
  const rows = await execRows<{ id: string; position: number }>(
    db,
    sql`with
      t as materialized (
        select q.id, q.owner, q.provider_id, q.created_at
        from unnest(${uuidArray(ids)}) as i (id) join ${tasks} q on q.id = i.id
        where q.status = 'QUEUED'
      ),
      -- Per owner asked about: the first and last of its tasks asked about, in queue order.
      g as materialized (
        select provider_id, owner,
          (array_agg(created_at order by created_at, id))[1] as lo_at, (array_agg(id order by created_at, id))[1] as lo_id,
          (array_agg(created_at order by created_at desc, id desc))[1] as hi_at, (array_agg(id order by created_at desc, id desc))[1] as hi_id
        from t group by provider_id, owner
      ),
      n as materialized (${queuedPerOwner}),
      ends as materialized (
        select g.*, coalesce(n.n, 0) as n,
          ${lastStarted(sql`g.provider_id`, sql`g.owner`)} as last_started,
          ${firstQueued(sql`g.provider_id`, sql`g.owner`)} as first_created,
          ${lastQueued(sql`g.provider_id`, sql`g.owner`)} as last_created
        from g left join n on n.provider_id = g.provider_id and n.owner = g.owner
      ),
      -- k of the first task asked about, counted from whichever end of the queue looks nearer.
      anchored as materialized (
        select e.*, case
          when e.lo_at - e.first_created > e.last_created - e.lo_at then e.n - (
            select count(*) from ${tasks} u
            where u.status = 'QUEUED' and u.provider_id = e.provider_id and u.owner = e.owner and (u.created_at, u.id) > (e.lo_at, e.lo_id)
          )
          else (
            select count(*) from ${tasks} u
            where u.status = 'QUEUED' and u.provider_id = e.provider_id and u.owner = e.owner and (u.created_at, u.id) <= (e.lo_at, e.lo_id)
          )
        end as k_lo
        from ends e
      ),
      ranked as materialized (
        select s.id, a.provider_id, a.owner, a.last_started, a.first_created, (a.k_lo + s.off)::bigint as k
        from anchored a cross join lateral (
          select u.id, row_number() over (order by u.created_at, u.id) - 1 as off from ${tasks} u
          where u.status = 'QUEUED' and u.provider_id = a.provider_id and u.owner = a.owner
            and (u.created_at, u.id) >= (a.lo_at, a.lo_id) and (u.created_at, u.id) <= (a.hi_at, a.hi_id)
        ) s
        where s.id in (select id from t)
      ),
      -- Other owners: their n, and their turn only where it can matter (n >= some k asked about).
      others as materialized (
        select n.provider_id, n.owner, n.n,
          case when n.n >= m.k then ${lastStarted(sql`n.provider_id`, sql`n.owner`)} end as last_started,
          case when n.n >= m.k then ${firstQueued(sql`n.provider_id`, sql`n.owner`)} end as first_created
        from n join (select provider_id, min(k) as k from ranked group by provider_id) m on m.provider_id = n.provider_id
      ),
      ahead as (
        select r.id, sum(
          least(p.n, r.k - 1)
          + case when p.n >= r.k and (p.last_started, p.first_created, p.owner) < (r.last_started, r.first_created, r.owner) then 1 else 0 end
        ) as n
        from ranked r join others p on p.provider_id = r.provider_id and p.owner <> r.owner
        group by r.id
      )
      select r.id, (r.k + coalesce(a.n, 0))::int as position
      from ranked r left join ahead a on a.id = r.id`,
  );
  return new Map(rows.map((r) => [r.id, Number(r.position)]));
}
