// What outlives the check of its key: a WebSocket connection, an SSE
// subscription. Each ends when its key stops working: an anonymous one when the
// server starts requiring keys, one authenticated with a stored key when that
// key is revoked. Stored keys are re-checked by hash, with one query for all
// live sessions however many there are.
import { activeKeyHashes } from './db/api-keys.js';
import type { Db } from './db/client.js';
import type { Logger } from './logger.js';

/** Ends a session (closes the socket, ends the stream) with a reason for the client. */
export type EndSession = (reason: string) => void;

export const REASON_KEYS_REQUIRED = 'Forbidden: API keys are required now';
export const REASON_KEY_REVOKED = 'Forbidden: the API key is no longer valid';

interface Session {
  /** The stored key's hash; unset for an anonymous session. */
  keyHash?: string;
  end: EndSession;
}

export class LiveSessions {
  private readonly sessions = new Set<Session>();
  private checking?: Promise<void>;
  /** A re-check was asked for while one ran: its query may predate the change. */
  private again = false;

  constructor(
    private readonly db: Db,
    private readonly log?: Logger,
  ) {}

  /** Watch a session; returns the function that stops watching it (when it ends on its own). */
  add(keyHash: string | undefined, end: EndSession): () => void {
    const session: Session = { keyHash, end };
    this.sessions.add(session);
    return () => void this.sessions.delete(session);
  }

  /** Are there sessions of stored keys to re-check? */
  get hasKeyed(): boolean {
    for (const s of this.sessions) if (s.keyHash !== undefined) return true;
    return false;
  }

  endAnonymous(reason: string): void {
    this.endWhere((s) => s.keyHash === undefined, reason);
  }

  /** End the sessions whose stored key is no longer active; concurrent calls share one query plus, if needed, one more. */
  recheck(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        await this.checkOnce();
      } while (this.again);
    })().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    const hashes = new Set<string>();
    for (const s of this.sessions) if (s.keyHash !== undefined) hashes.add(s.keyHash);
    if (!hashes.size) return;
    let active: Set<string>;
    try {
      active = await activeKeyHashes(this.db, [...hashes]);
    } catch (err) {
      // The next notification or safety-net round tries again.
      this.log?.warn({ err }, 'could not re-check the API keys of live connections');
      return;
    }
    // Only the hashes that were asked about: a session added meanwhile waits for its own check.
    this.endWhere((s) => s.keyHash !== undefined && hashes.has(s.keyHash) && !active.has(s.keyHash), REASON_KEY_REVOKED);
  }

  private endWhere(pred: (s: Session) => boolean, reason: string): void {
    for (const s of [...this.sessions]) {
      if (!pred(s)) continue;
      this.sessions.delete(s);
      try {
        s.end(reason);
      } catch (err) {
        this.log?.warn({ err }, 'could not end a live session');
      }
    }
  }
}
