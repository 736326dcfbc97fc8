// Client authentication: keys from REELAY_API_KEYS and hashed keys in the
// database. With no key anywhere the server is open (loopback only).
import { timingSafeEqual } from 'node:crypto';
import type { ApiKeyEntry } from './config.js';
import type { Db } from './db/client.js';
import { findKeyOwner, hashKey, hasActiveKeys } from './db/api-keys.js';

export const ANONYMOUS_OWNER = 'anonymous';

export class Auth {
  private readonly envKeys: Array<{ name: string; hash: Buffer }>;
  private storedKeysCache: { value: boolean; at: number } | null = null;

  constructor(
    private readonly db: Db,
    keys: ApiKeyEntry[],
  ) {
    this.envKeys = keys.map((k) => ({ name: k.name, hash: Buffer.from(hashKey(k.key), 'hex') }));
  }

  /** Are clients required to present a key? Cached briefly: revocations take effect within a second. */
  async required(): Promise<boolean> {
    if (this.envKeys.length) return true;
    const now = Date.now();
    if (!this.storedKeysCache || now - this.storedKeysCache.at > 1000) {
      this.storedKeysCache = { value: await hasActiveKeys(this.db), at: now };
    }
    return this.storedKeysCache.value;
  }

  /** The owner name for an `Authorization` value, or null when keys are required and it is not valid. */
  async authenticate(authorization: string | null | undefined): Promise<string | null> {
    if (!(await this.required())) return ANONYMOUS_OWNER;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return null;
    const key = m[1]!;
    const hash = Buffer.from(hashKey(key), 'hex');
    const envMatch = this.envKeys.find((k) => timingSafeEqual(k.hash, hash));
    if (envMatch) return envMatch.name;
    return (await findKeyOwner(this.db, key)) ?? null;
  }
}
