// Client authentication: keys from REELAY_API_KEYS and hashed keys in the
// database. Whether keys are required is decided once, at start: when any key
// exists then (environment or database) or the host is not loopback. An open
// server watches for the first key (a notification from createApiKey, and a
// check every half second in case one is missed) and then requires keys for
// the rest of its life: revoking keys never opens a server again.
// Connections and subscriptions that outlive their check (live sessions) end
// when their key stops working: anonymous ones when keys become required,
// those of a stored key when it is revoked (a notification from revokeApiKey,
// and a safety-net re-check every few seconds). REELAY_API_KEYS keys cannot be
// revoked while the server runs.
// Stored keys found valid are remembered for at most KEY_CACHE_MS (and only
// until the next keys notification), so a request costs no lookup; a revoked
// key is refused within that time even when its notification is lost, and an
// expiring key is never remembered past its expiry.
// Operator keys (REELAY_ADMIN_KEYS, or stored with --admin) are marked `admin`
// on their Principal: the read queries `tasks` and `stats` then span every
// owner; every other operation still acts as the key's own owner.
import { timingSafeEqual } from 'node:crypto';
import { isLoopbackHost, type ApiKeyEntry } from './config.js';
import { ANONYMOUS_OWNER, findActiveKey, hashKey, hasActiveKeys, KEYS_CHANNEL, type ActiveKey } from './db/api-keys.js';
import type { Database } from './db/client.js';
import { LiveSessions, REASON_KEYS_REQUIRED, type EndSession } from './live-sessions.js';
import type { Logger } from './logger.js';

export { ANONYMOUS_OWNER };

/** How often an open server checks for a first key it was not notified of. */
const OPEN_RECHECK_MS = 500;
/** How often the stored keys of live sessions are re-checked without a notification (a missed one, a key revoked by hand in SQL). */
export const SESSIONS_RECHECK_MS = 5_000;
/** How long a stored key found valid is trusted without asking the database again. */
export const KEY_CACHE_MS = 1_000;
/** Stored keys remembered at most (more distinct keys within KEY_CACHE_MS start over). */
const KEY_CACHE_SIZE = 10_000;

/** Who a request or connection is, and how that was established. */
export type Principal = (
  | { via: 'open'; owner: typeof ANONYMOUS_OWNER }
  | { via: 'environment'; owner: string }
  | {
      via: 'database';
      owner: string;
      /** SHA-256 (hex) of the stored key: revocable. */
      keyHash: string;
      /** The key's own limits (null: the default). */
      limits: { maxActive: number | null; perMinute: number | null; maxSpendPerDay: number | null };
      /** The default webhook endpoint of the key's tasks (`npm run keys -- webhook`), if any. */
      webhookUrl?: string | null;
    }
) & {
  /** Keys notifications seen before the key was checked: a later one means the check may be stale. */
  readonly checkedAt: number;
  /** The stored key was found valid up to KEY_CACHE_MS ago, not just now. */
  readonly cached?: boolean;
  /** An operator key: reads (`tasks`, `stats`, `task`, `node`) may span every owner. */
  readonly admin?: boolean;
};

export interface AuthOptions {
  database: Database;
  keys: ApiKeyEntry[];
  host: string;
  /** Watch for key changes: the first key of an open server, revocations (off for processes that serve no clients). */
  watch?: boolean;
  log?: Logger;
}

export class Auth {
  private readonly envKeys: Array<{ name: string; hash: Buffer; admin: boolean }>;
  private requiredNow: boolean;
  private readonly sessions: LiveSessions;
  /** Keys notifications received (and LISTEN reconnects): what a Principal's `checkedAt` counts. */
  private keysRevision = 0;
  private unlisten?: () => Promise<void>;
  private openTimer?: NodeJS.Timeout;
  private sessionsTimer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  /** Stored keys found valid (or being looked up), by hash. */
  private readonly keyCache = new Map<string, { revision: number; until: number; key: Promise<ActiveKey | undefined> }>();

  /** Decides whether keys are required and starts watching key changes. */
  static async start(opts: AuthOptions): Promise<Auth> {
    const keysExist = opts.keys.length > 0 || (await hasActiveKeys(opts.database.db));
    const auth = new Auth(opts, keysExist, keysExist || !isLoopbackHost(opts.host));
    if (opts.watch !== false) await auth.watch();
    return auth;
  }

  private constructor(
    private readonly opts: AuthOptions,
    /** Whether any key existed at start (a non-loopback server without one refuses to start). */
    readonly keysExistedAtStart: boolean,
    required: boolean,
  ) {
    this.envKeys = opts.keys.map((k) => ({ name: k.name, hash: Buffer.from(hashKey(k.key), 'hex'), admin: k.admin === true }));
    this.requiredNow = required;
    this.sessions = new LiveSessions(opts.database.db, opts.log);
  }

  /** Are clients required to present a key? Once true, true until the process ends. */
  get isRequired(): boolean {
    return this.requiredNow;
  }

  async required(): Promise<boolean> {
    return this.requiredNow;
  }

  /** The owner name for an `Authorization` value, or null when keys are required and it is not valid. */
  async authenticate(authorization: string | null | undefined): Promise<string | null> {
    return (await this.identify(authorization))?.owner ?? null;
  }

  /**
   * Who presents this `Authorization` value, or null when keys are required and
   * it is not valid. A stored key found valid less than KEY_CACHE_MS ago is not
   * looked up again, unless `fresh` (what starts a live session: a WebSocket
   * connection or operation, whose key is then watched).
   */
  async identify(authorization: string | null | undefined, opts: { fresh?: boolean } = {}): Promise<Principal | null> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const checkedAt = this.keysRevision;
    if (!this.requiredNow) {
      // A valid key presented to an open server proves that keys exist now:
      // require them from this request on instead of waiting for the watch.
      const principal = m ? await this.principalOf(m[1]!, checkedAt, opts.fresh) : null;
      if (!principal) return this.requiredNow ? null : { via: 'open', owner: ANONYMOUS_OWNER, checkedAt };
      this.latch();
      return principal;
    }
    return m ? this.principalOf(m[1]!, checkedAt, opts.fresh) : null;
  }

  /**
   * Watch a live session: `end` is called once, when its key stops working.
   * Returns the function that stops watching (call it when the session ends
   * on its own), or null when the key does not work any more already.
   */
  track(principal: Principal, end: EndSession): (() => void) | null {
    switch (principal.via) {
      case 'environment':
        return () => {};
      case 'open':
        return this.requiredNow ? null : this.sessions.add(undefined, end);
      case 'database': {
        const untrack = this.sessions.add(principal.keyHash, end);
        // A revocation notified while the key was being checked, or a check up to
        // KEY_CACHE_MS old (a revocation nobody was told about): check again.
        if (principal.checkedAt !== this.keysRevision || principal.cached) void this.sessions.recheck();
        return untrack;
      }
    }
  }

  async close(): Promise<void> {
    await this.stopWatching();
  }

  private async principalOf(key: string, checkedAt: number, fresh = false): Promise<Principal | null> {
    const keyHash = hashKey(key);
    if (this.envKeys.length) {
      const hash = Buffer.from(keyHash, 'hex');
      const envMatch = this.envKeys.find((k) => timingSafeEqual(k.hash, hash));
      if (envMatch) return { via: 'environment', owner: envMatch.name, checkedAt, admin: envMatch.admin };
    }
    const { key: stored, cached } = await this.storedKey(keyHash, checkedAt, fresh);
    // A remembered key that expired since it was looked up is refused like an unknown one.
    if (!stored || (stored.expiresAt && stored.expiresAt.getTime() <= Date.now())) return null;
    return { via: 'database', owner: stored.name, keyHash, limits: { maxActive: stored.maxActiveTasks, perMinute: stored.createsPerMinute, maxSpendPerDay: stored.maxSpendPerDay }, webhookUrl: stored.webhookUrl, checkedAt, cached, admin: stored.admin };
  }

  /** The active stored key with this hash: remembered when valid, one lookup at a time per hash. */
  private async storedKey(keyHash: string, revision: number, fresh: boolean): Promise<{ key: ActiveKey | undefined; cached: boolean }> {
    const now = Date.now();
    const cached = this.keyCache.get(keyHash);
    if (!fresh && cached && cached.revision === this.keysRevision && cached.until > now) return { key: await cached.key, cached: true };
    if (this.keyCache.size >= KEY_CACHE_SIZE) this.keyCache.clear();
    const entry = { revision, until: now + KEY_CACHE_MS, key: findActiveKey(this.opts.database.db, keyHash) };
    this.keyCache.set(keyHash, entry);
    // Only a valid key is remembered: a key created a moment later works at once.
    const forget = () => void (this.keyCache.get(keyHash) === entry && this.keyCache.delete(keyHash));
    entry.key.then((k) => k || forget(), forget);
    return { key: await entry.key, cached: false };
  }

  private async watch(): Promise<void> {
    const changed = () => {
      this.keysRevision++;
      this.keyCache.clear();
      void this.recheckOpen();
      if (this.sessions.hasKeyed) void this.sessions.recheck();
    };
    this.unlisten = await this.opts.database.listen(KEYS_CHANNEL, changed, changed);
    this.sessionsTimer = setInterval(() => {
      if (this.sessions.hasKeyed) void this.sessions.recheck();
    }, SESSIONS_RECHECK_MS);
    this.sessionsTimer.unref();
    if (this.requiredNow) return;
    this.openTimer = setInterval(() => void this.recheckOpen(), OPEN_RECHECK_MS);
    this.openTimer.unref();
    // A key created between the start decision and the LISTEN.
    await this.recheckOpen();
  }

  private recheckOpen(): Promise<void> {
    if (this.requiredNow) return Promise.resolve();
    this.checking ??= hasActiveKeys(this.opts.database.db)
      .then((exists) => {
        if (exists) this.latch();
      })
      .catch((err: unknown) => this.opts.log?.warn({ err }, 'could not check for API keys'))
      .finally(() => (this.checking = undefined));
    return this.checking;
  }

  private latch(): void {
    if (this.requiredNow) return;
    this.requiredNow = true;
    this.opts.log?.info('an API key exists now: every client must present one from now on');
    clearInterval(this.openTimer);
    this.openTimer = undefined;
    this.sessions.endAnonymous(REASON_KEYS_REQUIRED);
  }

  private async stopWatching(): Promise<void> {
    clearInterval(this.openTimer);
    clearInterval(this.sessionsTimer);
    this.openTimer = this.sessionsTimer = undefined;
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.().catch(() => {});
  }
}
