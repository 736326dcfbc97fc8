// Claiming work: due PROCESSING tasks whose lease lapsed (a runner died or
// shut down) are resumed; QUEUED tasks start in the fair order (round-robin
// across owners, see db/fair-queue.ts) while their provider has free slots. One advisory lock per claim keeps the per-provider
// concurrency count exact across runner processes; SKIP LOCKED keeps claims
// from blocking on rows someone else is updating.
import { and, asc, eq, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import { publishTaskChanged } from '../events/bus.js';
import { uuidArray, type Db } from './client.js';
import { pickQueuedFairly } from './fair-queue.js';
import { insertEvents } from './insert-events.js';
import { tasks, type TaskRow } from './schema.js';
import { changeStamp } from './task-change.js';

const CLAIM_LOCK = 7_270_002;

export interface ProviderSlots {
  id: string;
  maxConcurrency: number;
}

export interface ClaimOptions {
  owner: string;
  leaseMs: number;
  /** How many tasks this runner can take on now. */
  limit: number;
  providers: ProviderSlots[];
}

export interface ClaimedTasks {
  tasks: TaskRow[];
  /** How many were taken over from another holder whose lease lapsed. */
  recovered: number;
}

export async function claimTasks(db: Db, opts: ClaimOptions): Promise<ClaimedTasks> {
  if (opts.limit <= 0 || opts.providers.length === 0) return { tasks: [], recovered: 0 };
  const providerIds = opts.providers.map((p) => p.id);
  const leaseUntil = sql`now() + ${`${opts.leaseMs} milliseconds`}::interval`;

  return db.transaction(async (tx): Promise<ClaimedTasks> => {
    let recovered = 0;
    await tx.execute(sql`select pg_advisory_xact_lock(${CLAIM_LOCK})`);
    const claimed: TaskRow[] = [];

    // 1. Resume tasks already at an upstream whose holder is gone.
    const orphans = await tx
      .select({ id: tasks.id, leaseOwner: tasks.leaseOwner })
      .from(tasks)
      .where(
        and(
          eq(tasks.status, 'PROCESSING'),
          inArray(tasks.providerId, providerIds),
          or(isNull(tasks.leaseOwner), lte(tasks.leaseExpiresAt, sql`now()`)),
          lte(tasks.nextPollAt, sql`now()`),
        ),
      )
      .orderBy(asc(tasks.nextPollAt))
      .limit(opts.limit)
      .for('update', { skipLocked: true });
    if (orphans.length) {
      const rows = await tx
        .update(tasks)
        .set({ leaseOwner: opts.owner, leaseExpiresAt: leaseUntil, ...changeStamp })
        .where(sql`${tasks.id} = any(${uuidArray(orphans.map((o) => o.id))})`)
        .returning();
      claimed.push(...rows);
      // Another holder whose lease lapsed (released tasks have no owner left; a lapse of this
      // runner's own lease under load hands the task back to it, which recovers nothing).
      for (const o of orphans) if (o.leaseOwner !== null && o.leaseOwner !== opts.owner) recovered++;
    }

    // 2. Start queued tasks where the provider has free slots.
    let room = opts.limit - claimed.length;
    if (room <= 0) return { tasks: claimed, recovered };
    const active = await tx
      .select({ providerId: tasks.providerId, n: sql<number>`count(*)::int` })
      .from(tasks)
      .where(and(eq(tasks.status, 'PROCESSING'), inArray(tasks.providerId, providerIds)))
      .groupBy(tasks.providerId);
    const activeBy = new Map(active.map((a) => [a.providerId, Number(a.n)]));

    for (const p of opts.providers) {
      const free = Math.min(room, p.maxConcurrency - (activeBy.get(p.id) ?? 0));
      if (free <= 0) continue;
      const queued = await pickQueuedFairly(tx, p.id, free);
      if (!queued.length) continue;
      const rows = await tx
        .update(tasks)
        .set({
          status: 'PROCESSING',
          startedAt: sql`coalesce(${tasks.startedAt}, now())`,
          leaseOwner: opts.owner,
          leaseExpiresAt: leaseUntil,
          ...changeStamp,
        })
        .where(and(sql`${tasks.id} = any(${uuidArray(queued)})`, eq(tasks.status, 'QUEUED')))
        .returning();
      if (rows.length) {
        await insertEvents(tx, rows.map((r) => ({ taskId: r.id, status: r.status, progress: r.progress, message: `started on ${p.id}` })));
        await publishTaskChanged(tx, rows.map((r) => r.id));
      }
      claimed.push(...rows);
      room -= rows.length;
      if (room <= 0) break;
    }
    return { tasks: claimed, recovered };
  });
}
