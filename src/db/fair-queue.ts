// The fair order of a provider's queue, shared by the claim (which task starts
// next) and `queuePosition` (where a task stands): free slots go round-robin
// across owners, each owner's tasks in creation order. Round r holds every
// owner's r-th queued task; within a round, owners take turns by when they were
// last served at this provider (never first), then by their oldest queued task.
// The order is decided here in SQL, so it holds across runner processes.
// queuePosition computes a task's place in this order in queue-positions.ts.
import { sql, type SQL } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { tasks } from './schema.js';

/**
 * Owners with QUEUED tasks at each provider of `providers` (a query yielding
 * `provider_id`), found by skipping through the queue index one owner at a time,
 * with their turn: `last_started` (-infinity when never served) and `first_created`.
 */
export function ownerTurns(providers: SQL): SQL {
  // `order by` the index's own columns (provider_id, owner, …) keeps each lookup on tasks_queue_owner.
  return sql`owners (provider_id, owner) as (
      select p.provider_id, (
        select x.owner from ${tasks} x where x.status = 'QUEUED' and x.provider_id = p.provider_id order by x.provider_id, x.owner limit 1
      )
      from (${providers}) p
      union all
      select o.provider_id, (
        select x.owner from ${tasks} x where x.status = 'QUEUED' and x.provider_id = o.provider_id and x.owner > o.owner order by x.provider_id, x.owner limit 1
      )
      from owners o where o.owner is not null
    ),
    turns as materialized (
      select o.provider_id, o.owner,
        coalesce((select max(s.started_at) from ${tasks} s where s.provider_id = o.provider_id and s.owner = o.owner), '-infinity') as last_started,
        (
          select f.created_at from ${tasks} f where f.status = 'QUEUED' and f.provider_id = o.provider_id and f.owner = o.owner
          order by f.provider_id, f.owner, f.created_at, f.id limit 1
        ) as first_created
      from owners o where o.owner is not null
    )`;
}

/**
 * Lock and return (in fair order) up to `limit` due QUEUED tasks of a provider
 * for a claim; rows another transaction holds are skipped. Runs inside the
 * claim transaction.
 */
export async function pickQueuedFairly(tx: DbOrTx, providerId: string, limit: number): Promise<string[]> {
  if (limit <= 0) return [];
  // Each owner contributes at most `limit` candidates: its first `limit` due tasks, ranked.
  // The chosen ids go through an array so that the rows are then locked by primary key.
  const rows = await execRows<{ id: string }>(
    tx,
    sql`with recursive ${ownerTurns(sql`select ${providerId}::text as provider_id`)},
      picked as materialized (
        select array(
          select c.id
          from turns o cross join lateral (
            select y.id, row_number() over (order by y.created_at, y.id) as rank
            from (
              select q.id, q.created_at from ${tasks} q
              where q.status = 'QUEUED' and q.provider_id = o.provider_id and q.owner = o.owner and q.next_poll_at <= now()
              order by q.provider_id, q.owner, q.created_at, q.id limit ${limit}
            ) y
          ) c
          order by c.rank, o.last_started, o.first_created, o.owner
          limit ${limit}
        ) as ids
      )
      select t.id from ${tasks} t, picked
      where t.id = any(picked.ids) and t.status = 'QUEUED'
      order by array_position(picked.ids, t.id)
      for update of t skip locked`,
  );
  return rows.map((r) => r.id);
}
