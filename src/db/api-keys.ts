// Client keys stored as SHA-256 hashes; the key itself is shown once, at creation.
import crypto, { createHash, randomBytes } from 'node:crypto';
import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Db } from './client.js';
import { apiKeys } from './schema.js';

/** The owner of everything done while the server runs without keys; no key may take this name. */
export const ANONYMOUS_OWNER = 'anonymous';
/**
 * Notified (in the same transaction) when a key is created, so an open server
 * starts requiring keys at once, and when one is revoked, so the connections
 * and subscriptions authenticated with it end at once. Payload: what happened.
 */
export const KEYS_CHANNEL = 'reelay_keys';

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;

/** A key operation refused for a reason the caller can fix (bad or reserved name, name in use). */
export class ApiKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiKeyError';
  }
}

// Every request hashes its key: crypto.hash (Node ≥ 20.12) does it in one call, without a Hash object.
const sha256Hex: (key: string) => string = typeof crypto.hash === 'function' ? (key) => crypto.hash('sha256', key, 'hex') : (key) => createHash('sha256').update(key).digest('hex');

export function hashKey(key: string): string {
  return sha256Hex(key);
}

export function generateKey(): string {
  return 'rly_' + randomBytes(24).toString('base64url');
}

/** Options of a new key: its own limits, overriding the defaults (0: off; omitted: REELAY_MAX_ACTIVE_TASKS_PER_KEY, REELAY_CREATES_PER_MINUTE_PER_KEY). */
export interface CreateKeyOptions {
  maxActive?: number | null;
  perMinute?: number | null;
}

function checkLimit(what: string, n: number | null | undefined): number | null {
  if (n === undefined || n === null) return null;
  if (!Number.isSafeInteger(n) || n < 0) throw new ApiKeyError(`${what} must be a whole number >= 0 (0 turns the limit off)`);
  return n;
}

export function checkKeyName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw new ApiKeyError('a key name is 1-64 letters, digits, "_", ".", "@" or "-", starting with a letter or digit');
  if (name === ANONYMOUS_OWNER) throw new ApiKeyError(`"${ANONYMOUS_OWNER}" is reserved: it owns the tasks created while the server runs without keys`);
}

/** Create a key for `name` (with its own limits, if given); fails when an active key of that name exists. Returns the plain key. */
export async function createApiKey(db: Db, name: string, opts: CreateKeyOptions = {}): Promise<string> {
  checkKeyName(name);
  const maxActiveTasks = checkLimit('max-active', opts.maxActive);
  const createsPerMinute = checkLimit('per-minute', opts.perMinute);
  const key = generateKey();
  await db.transaction(async (tx) => {
    const [existing] = await tx.select().from(apiKeys).where(eq(apiKeys.name, name)).for('update');
    if (existing && !existing.revokedAt) throw new ApiKeyError(`an active key named "${name}" exists; revoke it first`);
    if (existing) await tx.update(apiKeys).set({ keyHash: hashKey(key), createdAt: sql`now()`, revokedAt: null, maxActiveTasks, createsPerMinute }).where(eq(apiKeys.id, existing.id));
    else {
      const inserted = await tx.insert(apiKeys).values({ name, keyHash: hashKey(key), maxActiveTasks, createsPerMinute }).onConflictDoNothing({ target: apiKeys.name }).returning({ id: apiKeys.id });
      if (!inserted.length) throw new ApiKeyError(`a key named "${name}" was created at the same time; try again`);
    }
    // Delivered when the key commits, to every process serving this database.
    await tx.execute(sql`select pg_notify(${KEYS_CHANNEL}, 'created')`);
  });
  return key;
}

export async function revokeApiKey(db: Db, name: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const rows = await tx.update(apiKeys).set({ revokedAt: sql`now()` }).where(and(eq(apiKeys.name, name), isNull(apiKeys.revokedAt))).returning({ id: apiKeys.id });
    if (!rows.length) return false;
    // Delivered when the revocation commits: every process ends the key's live sessions.
    await tx.execute(sql`select pg_notify(${KEYS_CHANNEL}, 'revoked')`);
    return true;
  });
}

export async function listApiKeys(db: Db): Promise<Array<{ name: string; createdAt: Date; revokedAt: Date | null; maxActiveTasks: number | null; createsPerMinute: number | null }>> {
  return db
    .select({ name: apiKeys.name, createdAt: apiKeys.createdAt, revokedAt: apiKeys.revokedAt, maxActiveTasks: apiKeys.maxActiveTasks, createsPerMinute: apiKeys.createsPerMinute })
    .from(apiKeys)
    .orderBy(apiKeys.name);
}

/** An active stored key: its owner name and its own limits (null: the default). */
export interface ActiveKey {
  name: string;
  maxActiveTasks: number | null;
  createsPerMinute: number | null;
}

/** The active stored key with this hash (see `hashKey`), if any. */
export async function findActiveKey(db: Db, keyHash: string): Promise<ActiveKey | undefined> {
  const [row] = await db
    .select({ name: apiKeys.name, maxActiveTasks: apiKeys.maxActiveTasks, createsPerMinute: apiKeys.createsPerMinute })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)));
  return row;
}

/** Which of these key hashes belong to active stored keys (one query for any number). */
export async function activeKeyHashes(db: Db, hashes: string[]): Promise<Set<string>> {
  if (!hashes.length) return new Set();
  const rows = await db.select({ keyHash: apiKeys.keyHash }).from(apiKeys).where(and(inArray(apiKeys.keyHash, hashes), isNull(apiKeys.revokedAt)));
  return new Set(rows.map((r) => r.keyHash));
}

export async function hasActiveKeys(db: Db): Promise<boolean> {
  const [row] = await db.select({ id: apiKeys.id }).from(apiKeys).where(isNull(apiKeys.revokedAt)).limit(1);
  return !!row;
}
