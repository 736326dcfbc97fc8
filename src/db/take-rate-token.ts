// requestsPerMinute per provider, shared by every runner process: a token
// bucket row in the database refilled continuously at rpm/60 per second,
// holding at most a tenth of a minute's worth (so bursts stay small).
import { eq, sql } from 'drizzle-orm';
import { execRows, type Db } from './client.js';
import { providerLimits } from './schema.js';

export function bucketSize(perMinute: number): number {
  return Math.max(1, Math.floor(perMinute / 10));
}

/** Take one request token; 0 when granted, otherwise how many ms to wait before asking again. */
export async function takeToken(db: Db, providerId: string, perMinute: number): Promise<number> {
  const capacity = bucketSize(perMinute);
  const perMs = perMinute / 60_000;
  const refilled = sql`least(${capacity}::float8, ${providerLimits.tokens} + extract(epoch from (now() - ${providerLimits.updatedAt})) * 1000 * ${perMs}::float8)`;
  await db.insert(providerLimits).values({ providerId, tokens: capacity }).onConflictDoNothing();
  const granted = await db
    .update(providerLimits)
    .set({ tokens: sql`${refilled} - 1`, updatedAt: sql`now()` })
    .where(sql`${providerLimits.providerId} = ${providerId} and ${refilled} >= 1`)
    .returning({ tokens: providerLimits.tokens });
  if (granted.length) return 0;
  const [row] = await execRows<{ available: number }>(db, sql`select ${refilled} as available from ${providerLimits} where ${eq(providerLimits.providerId, providerId)}`);
  const available = Number(row?.available ?? 0);
  return Math.max(10, Math.ceil((1 - available) / perMs));
}
