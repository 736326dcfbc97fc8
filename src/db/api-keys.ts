// Client keys stored as SHA-256 hashes; the key itself is shown once, at creation.
import crypto, { createHash, randomBytes } from 'node:crypto';
import { and, desc, eq, inArray, isNull, ne, sql } from 'drizzle-orm';
import type { Db, DbOrTx } from './client.js';
import { apiKeys, keyWebhooks } from './schema.js';

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

/**
 * Options of a new key: its own limits, overriding the defaults (0: off;
 * omitted: REELAY_MAX_ACTIVE_TASKS_PER_KEY, REELAY_CREATES_PER_MINUTE_PER_KEY),
 * a lifetime, and whether it is an operator key.
 */
export interface CreateKeyOptions {
  maxActive?: number | null;
  perMinute?: number | null;
  /** Spend cap per UTC day, in the providers' currency (creates are refused with SPEND_LIMIT once reached); omitted: none. */
  maxSpendPerDay?: number | null;
  /** The key is refused this long after its creation; omitted: never. */
  expiresInMs?: number | null;
  /** An operator key: `tasks` and `stats` span every owner (reads only). */
  admin?: boolean;
}

/** What a new key is: the plain key (shown once), its id and when it expires. */
export interface NewKey {
  key: string;
  id: number;
  expiresAt: Date | null;
}

const NAME_LOCK = 7_270_011;

function checkLimit(what: string, n: number | null | undefined): number | null {
  if (n === undefined || n === null) return null;
  if (!Number.isSafeInteger(n) || n < 0) throw new ApiKeyError(`${what} must be a whole number >= 0 (0 turns the limit off)`);
  return n;
}

function checkSpend(n: number | null | undefined): number | null {
  if (n === undefined || n === null) return null;
  if (!Number.isFinite(n) || n < 0) throw new ApiKeyError('max-spend-per-day must be a number >= 0');
  return n;
}

function checkLifetime(ms: number | null | undefined): number | null {
  if (ms === undefined || ms === null) return null;
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new ApiKeyError('expires must be a positive duration');
  return ms;
}

export function checkKeyName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw new ApiKeyError('a key name is 1-64 letters, digits, "_", ".", "@" or "-", starting with a letter or digit');
  if (name === ANONYMOUS_OWNER) throw new ApiKeyError(`"${ANONYMOUS_OWNER}" is reserved: it owns the tasks created while the server runs without keys`);
}

/** A key that works now: not revoked, not expired. */
const usable = sql`${apiKeys.revokedAt} is null and (${apiKeys.expiresAt} is null or ${apiKeys.expiresAt} > now())`;

/** Serialize the key commands of one name until the transaction ends. */
async function lockName(tx: DbOrTx, name: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${NAME_LOCK}, hashtext(${name}))`);
}

async function insertKey(
  tx: DbOrTx,
  name: string,
  values: { maxActiveTasks: number | null; createsPerMinute: number | null; maxSpendPerDay: number | null; lifetimeMs: number | null; admin: boolean },
): Promise<NewKey> {
  const key = generateKey();
  const [row] = await tx
    .insert(apiKeys)
    .values({
      name,
      keyHash: hashKey(key),
      maxActiveTasks: values.maxActiveTasks,
      createsPerMinute: values.createsPerMinute,
      maxSpendPerDay: values.maxSpendPerDay,
      admin: values.admin,
      expiresAt: values.lifetimeMs === null ? null : sql`now() + ${values.lifetimeMs} * interval '1 millisecond'`,
    })
    .returning({ id: apiKeys.id, expiresAt: apiKeys.expiresAt });
  // Delivered when the key commits, to every process serving this database.
  await tx.execute(sql`select pg_notify(${KEYS_CHANNEL}, 'created')`);
  return { key, id: row!.id, expiresAt: row!.expiresAt };
}

/** Create a key for `name` (with its own limits, if given); fails when a working key of that name exists (rotate it instead). */
export async function createApiKey(db: Db, name: string, opts: CreateKeyOptions = {}): Promise<string> {
  return (await createApiKeyWithId(db, name, opts)).key;
}

export async function createApiKeyWithId(db: Db, name: string, opts: CreateKeyOptions = {}): Promise<NewKey> {
  checkKeyName(name);
  const maxActiveTasks = checkLimit('max-active', opts.maxActive);
  const createsPerMinute = checkLimit('per-minute', opts.perMinute);
  const maxSpendPerDay = checkSpend(opts.maxSpendPerDay);
  const lifetimeMs = checkLifetime(opts.expiresInMs);
  return db.transaction(async (tx) => {
    await lockName(tx, name);
    const [existing] = await tx.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.name, name), usable)).limit(1);
    if (existing) throw new ApiKeyError(`an active key named "${name}" exists; revoke it first (or rotate it: npm run keys -- rotate ${name})`);
    return insertKey(tx, name, { maxActiveTasks, createsPerMinute, maxSpendPerDay, lifetimeMs, admin: opts.admin ?? false });
  });
}

/**
 * A new key for `name`, next to the ones that work (they keep working until
 * revoked). It takes the newest working key's limits, operator flag and
 * lifetime (unless `expiresInMs` is given).
 */
export async function rotateApiKey(db: Db, name: string, opts: { expiresInMs?: number | null } = {}): Promise<NewKey> {
  const lifetime = checkLifetime(opts.expiresInMs);
  return db.transaction(async (tx) => {
    await lockName(tx, name);
    const [newest] = await tx.select().from(apiKeys).where(and(eq(apiKeys.name, name), usable)).orderBy(desc(apiKeys.createdAt), desc(apiKeys.id)).limit(1);
    if (!newest) throw new ApiKeyError(`no active key named "${name}" to rotate (create one with: npm run keys -- create ${name})`);
    const inherited = newest.expiresAt ? Math.max(1, newest.expiresAt.getTime() - newest.createdAt.getTime()) : null;
    return insertKey(tx, name, { maxActiveTasks: newest.maxActiveTasks, createsPerMinute: newest.createsPerMinute, maxSpendPerDay: newest.maxSpendPerDay, lifetimeMs: lifetime ?? inherited, admin: newest.admin });
  });
}

/** Which keys of a name to revoke: all (default), one by id, or all but the newest (`old`: the end of a rotation). */
export interface RevokeOptions {
  id?: number;
  old?: boolean;
}

/** Revoke every key of `name`; false when it had none. */
export async function revokeApiKey(db: Db, name: string): Promise<boolean> {
  return (await revokeApiKeys(db, name)) > 0;
}

/** Revoke keys of `name` (all, one by id, or all but the newest); returns how many were revoked. */
export async function revokeApiKeys(db: Db, name: string, opts: RevokeOptions = {}): Promise<number> {
  return db.transaction(async (tx) => {
    await lockName(tx, name);
    const conds = [eq(apiKeys.name, name), isNull(apiKeys.revokedAt)];
    if (opts.id !== undefined) conds.push(eq(apiKeys.id, opts.id));
    if (opts.old) {
      const [newest] = await tx.select({ id: apiKeys.id }).from(apiKeys).where(and(eq(apiKeys.name, name), usable)).orderBy(desc(apiKeys.createdAt), desc(apiKeys.id)).limit(1);
      if (newest) conds.push(ne(apiKeys.id, newest.id));
    }
    const rows = await tx.update(apiKeys).set({ revokedAt: sql`now()` }).where(and(...conds)).returning({ id: apiKeys.id });
    if (!rows.length) return 0;
    // Delivered when the revocation commits: every process ends the key's live sessions.
    await tx.execute(sql`select pg_notify(${KEYS_CHANNEL}, 'revoked')`);
    return rows.length;
  });
}

export interface KeyListing {
  id: number;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
  expiresAt: Date | null;
  admin: boolean;
  maxActiveTasks: number | null;
  createsPerMinute: number | null;
  maxSpendPerDay: number | null;
}

export async function listApiKeys(db: Db): Promise<KeyListing[]> {
  return db
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      createdAt: apiKeys.createdAt,
      revokedAt: apiKeys.revokedAt,
      expiresAt: apiKeys.expiresAt,
      admin: apiKeys.admin,
      maxActiveTasks: apiKeys.maxActiveTasks,
      createsPerMinute: apiKeys.createsPerMinute,
      maxSpendPerDay: apiKeys.maxSpendPerDay,
    })
    .from(apiKeys)
    .orderBy(apiKeys.name, apiKeys.id);
}

/** A working stored key: its owner name, its own limits (null: the default), when it expires and whether it is an operator key. */
export interface ActiveKey {
  name: string;
  maxActiveTasks: number | null;
  createsPerMinute: number | null;
  maxSpendPerDay: number | null;
  expiresAt: Date | null;
  admin: boolean;
  /** The default webhook endpoint of the name's tasks (`npm run keys -- webhook`), if any. */
  webhookUrl: string | null;
}

/** The working (not revoked, not expired) stored key with this hash (see `hashKey`), if any. */
export async function findActiveKey(db: Db, keyHash: string): Promise<ActiveKey | undefined> {
  const [row] = await db
    .select({ name: apiKeys.name, maxActiveTasks: apiKeys.maxActiveTasks, createsPerMinute: apiKeys.createsPerMinute, maxSpendPerDay: apiKeys.maxSpendPerDay, expiresAt: apiKeys.expiresAt, admin: apiKeys.admin, webhookUrl: keyWebhooks.url })
    .from(apiKeys)
    .leftJoin(keyWebhooks, eq(keyWebhooks.name, apiKeys.name))
    .where(and(eq(apiKeys.keyHash, keyHash), usable));
  return row;
}

/** Which of these key hashes belong to working stored keys (one query for any number). */
export async function activeKeyHashes(db: Db, hashes: string[]): Promise<Set<string>> {
  if (!hashes.length) return new Set();
  const rows = await db.select({ keyHash: apiKeys.keyHash }).from(apiKeys).where(and(inArray(apiKeys.keyHash, hashes), usable));
  return new Set(rows.map((r) => r.keyHash));
}

/** Whether any stored key is not revoked (an expired one counts: keys stay required). */
export async function hasActiveKeys(db: Db): Promise<boolean> {
  const [row] = await db.select({ id: apiKeys.id }).from(apiKeys).where(isNull(apiKeys.revokedAt)).limit(1);
  return !!row;
}
