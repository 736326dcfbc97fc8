// Client keys stored as SHA-256 hashes; the key itself is shown once, at creation.
import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { apiKeys } from './schema.js';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export function generateKey(): string {
  return 'rly_' + randomBytes(24).toString('base64url');
}

/** Per-key overrides of the default limits (0: off); omitted: the defaults (REELAY_MAX_ACTIVE_TASKS_PER_KEY, REELAY_CREATES_PER_MINUTE_PER_KEY). */
export interface ApiKeyLimits {
  maxActive?: number | null;
  perMinute?: number | null;
}

function checkLimit(what: string, n: number | null | undefined): number | null {
  if (n === undefined || n === null) return null;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} must be a whole number >= 0 (0 turns the limit off)`);
  return n;
}

/** Create a key for `name` (with its own limits, if given); fails when an active key of that name exists. Returns the plain key. */
export async function createApiKey(db: Db, name: string, limits: ApiKeyLimits = {}): Promise<string> {
  const maxActiveTasks = checkLimit('max-active', limits.maxActive);
  const createsPerMinute = checkLimit('per-minute', limits.perMinute);
  const key = generateKey();
  const [existing] = await db.select().from(apiKeys).where(eq(apiKeys.name, name));
  if (existing && !existing.revokedAt) throw new Error(`an active key named "${name}" exists; revoke it first`);
  if (existing) await db.update(apiKeys).set({ keyHash: hashKey(key), createdAt: sql`now()`, revokedAt: null, maxActiveTasks, createsPerMinute }).where(eq(apiKeys.id, existing.id));
  else await db.insert(apiKeys).values({ name, keyHash: hashKey(key), maxActiveTasks, createsPerMinute });
  return key;
}

export async function revokeApiKey(db: Db, name: string): Promise<boolean> {
  const rows = await db.update(apiKeys).set({ revokedAt: sql`now()` }).where(and(eq(apiKeys.name, name), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id });
  return rows.length > 0;
}

export async function listApiKeys(db: Db): Promise<Array<{ name: string; createdAt: Date; revokedAt: Date | null; maxActiveTasks: number | null; createsPerMinute: number | null }>> {
  return db
    .select({ name: apiKeys.name, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt, maxActiveTasks: apiKeys.maxActiveTasks, createsPerMinute: apiKeys.createsPerMinute })
    .from(apiKeys)
    .orderBy(apiKeys.name);
}

/** The owner name of an active stored key, if any. */
export async function findKeyOwner(db: Db, key: string): Promise<string | undefined> {
  const [row] = await db.select({ name: apiKeys.name }).from(apiKeys).where(and(eq(apiKeys.keyHash, hashKey(key)), isNull(apiKeys.revokedAt)));
  return row?.name;
}

export async function hasActiveKeys(db: Db): Promise<boolean> {
  const [row] = await db.select({ id: apiKeys.id }).from(apiKeys).where(isNull(apiKeys.revokedAt)).limit(1);
  return !!row;
}
