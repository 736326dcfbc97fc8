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

/** Create a key for `name`; fails when an active key of that name exists. Returns the plain key. */
export async function createApiKey(db: Db, name: string): Promise<string> {
  const key = generateKey();
  const [existing] = await db.select().from(apiKeys).where(eq(apiKeys.name, name));
  if (existing && !existing.revokedAt) throw new Error(`an active key named "${name}" exists; revoke it first`);
  if (existing) await db.update(apiKeys).set({ keyHash: hashKey(key), createdAt: sql`now()`, revokedAt: null }).where(eq(apiKeys.id, existing.id));
  else await db.insert(apiKeys).values({ name, keyHash: hashKey(key) });
  return key;
}

export async function revokeApiKey(db: Db, name: string): Promise<boolean> {
  const rows = await db.update(apiKeys).set({ revokedAt: sql`now()` }).where(and(eq(apiKeys.name, name), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id });
  return rows.length > 0;
}

export async function listApiKeys(db: Db): Promise<Array<{ name: string; createdAt: Date; revokedAt: Date | null }>> {
  return db.select({ name: apiKeys.name, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt }).from(apiKeys).orderBy(apiKeys.name);
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
