// Outcome health of providers, shared by every process: consecutive transient
// failures are counted by the database itself (an atomic increment), so
// failures seen by several runners add up instead of the last writer winning,
// and a success anywhere resets the count.
import { and, eq, gt, not, or, sql } from 'drizzle-orm';
import type { DbOrTx } from './client.js';
import { providerHealth } from './schema.js';

export interface ProviderHealthRow {
  providerId: string;
  healthy: boolean;
  message: string | null;
  consecutiveFailures: number;
  checkedAt: Date;
}

/** Count one more failure; healthy while the new count stays below `threshold`. Returns the row as stored. */
export async function recordProviderFailure(db: DbOrTx, providerId: string, message: string | null, threshold: number): Promise<ProviderHealthRow> {
  const count = sql`${providerHealth.consecutiveFailures} + 1`;
  const [row] = await db
    .insert(providerHealth)
    .values({ providerId, healthy: 1 < threshold, message, consecutiveFailures: 1 })
    .onConflictDoUpdate({
      target: providerHealth.providerId,
      set: { consecutiveFailures: count, healthy: sql`${count} < ${threshold}`, message, checkedAt: sql`now()` },
    })
    .returning();
  return row!;
}

/** A success resets the count; returns the row when it changed one (null when it was already clean). */
export async function recordProviderSuccess(db: DbOrTx, providerId: string): Promise<ProviderHealthRow | null> {
  const [row] = await db
    .update(providerHealth)
    .set({ consecutiveFailures: 0, healthy: true, message: null, checkedAt: sql`now()` })
    .where(and(eq(providerHealth.providerId, providerId), or(gt(providerHealth.consecutiveFailures, 0), not(providerHealth.healthy))))
    .returning();
  return row ?? null;
}

export async function readProviderHealth(db: DbOrTx): Promise<ProviderHealthRow[]> {
  return db.select().from(providerHealth);
}
