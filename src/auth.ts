// Client authentication: keys from REELAY_API_KEYS and hashed keys in the
// database. Whether keys are required is decided once, at start: when any key
// exists then (environment or database) or the host is not loopback. An open
// server watches for the first key (a notification from createApiKey, and a
// check every half second in case one is missed) and then requires keys for
// the rest of its life: revoking keys never opens a server again.
import { timingSafeEqual } from 'node:crypto';
import { isLoopbackHost, type ApiKeyEntry } from './config.js';
import { ANONYMOUS_OWNER, findKeyOwner, hashKey, hasActiveKeys, KEYS_CHANNEL } from './db/api-keys.js';
import type { Database } from './db/client.js';
import type { Logger } from './logger.js';

export { ANONYMOUS_OWNER };

const RECHECK_MS = 500;

export interface AuthOptions {
  database: Database;
  keys: ApiKeyEntry[];
  host: string;
  /** Watch an open server for the first key (off for processes that serve no clients). */
  watch?: boolean;
  log?: Logger;
}

export class Auth {
  private readonly envKeys: Array<{ name: string; hash: Buffer }>;
  private requiredNow: boolean;
  private readonly requiredListeners = new Set<() => void>();
  private unlisten?: () => Promise<void>;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;

  /** Decides whether keys are required and, for an open server, starts watching for the first key. */
  static async start(opts: AuthOptions): Promise<Auth> {
    const keysExist = opts.keys.length > 0 || (await hasActiveKeys(opts.database.db));
    const auth = new Auth(opts, keysExist, keysExist || !isLoopbackHost(opts.host));
    if (!auth.requiredNow && opts.watch !== false) await auth.watch();
    return auth;
  }

  private constructor(
    private readonly opts: AuthOptions,
    /** Whether any key existed at start (a non-loopback server without one refuses to start). */
    readonly keysExistedAtStart: boolean,
    required: boolean,
  ) {
    this.envKeys = opts.keys.map((k) => ({ name: k.name, hash: Buffer.from(hashKey(k.key), 'hex') }));
    this.requiredNow = required;
  }

  /** Are clients required to present a key? Once true, true until the process ends. */
  get isRequired(): boolean {
    return this.requiredNow;
  }

  async required(): Promise<boolean> {
    return this.requiredNow;
  }

  /** Called once, when an open server starts requiring keys. */
  onRequired(fn: () => void): () => void {
    this.requiredListeners.add(fn);
    return () => this.requiredListeners.delete(fn);
  }

  /** The owner name for an `Authorization` value, or null when keys are required and it is not valid. */
  async authenticate(authorization: string | null | undefined): Promise<string | null> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!this.requiredNow) {
      // A valid key presented to an open server proves that keys exist now:
      // require them from this request on instead of waiting for the watch.
      const owner = m ? await this.ownerOf(m[1]!) : null;
      if (!owner) return this.requiredNow ? null : ANONYMOUS_OWNER;
      this.latch();
      return owner;
    }
    return m ? this.ownerOf(m[1]!) : null;
  }

  async close(): Promise<void> {
    await this.stopWatching();
    this.requiredListeners.clear();
  }

  private async ownerOf(key: string): Promise<string | null> {
    const hash = Buffer.from(hashKey(key), 'hex');
    const envMatch = this.envKeys.find((k) => timingSafeEqual(k.hash, hash));
    if (envMatch) return envMatch.name;
    return (await findKeyOwner(this.opts.database.db, key)) ?? null;
  }

  private async watch(): Promise<void> {
    const recheck = () => void this.recheck();
    this.unlisten = await this.opts.database.listen(KEYS_CHANNEL, recheck, recheck);
    this.timer = setInterval(recheck, RECHECK_MS);
    this.timer.unref();
    // A key created between the start decision and the LISTEN.
    await this.recheck();
  }

  private recheck(): Promise<void> {
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
    void this.stopWatching();
    for (const fn of [...this.requiredListeners]) {
      try {
        fn();
      } catch (err) {
        this.opts.log?.warn({ err }, 'keys-required listener failed');
      }
    }
  }

  private async stopWatching(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    await unlisten?.().catch(() => {});
  }
}
