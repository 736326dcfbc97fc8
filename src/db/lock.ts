// One process at a time on an embedded (PGlite) data directory: two would each
// keep their own copy of the database in memory and overwrite each other's
// writes. The lock is proper-lockfile's (an atomic mkdir, kept fresh by its
// mtime, so even a lock whose owner vanished without trace expires), next to an
// owner file saying who holds it: a refusal names the running process, and a
// lock whose owner is provably dead on this machine (SIGKILL, crash, power
// loss) is taken over at once instead of after the staleness period.
// Taking a lock, with its owner file, happens behind a short-lived gate (a
// second proper-lockfile lock): judging "the owner is gone" and removing that
// owner's lock is then one step, never a fresh lock whose owner file is not
// written yet.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';

/** Without an mtime update for this long, a lock counts as abandoned even if its owner cannot be checked. */
const STALE_MS = 30_000;
/** The gate is held for milliseconds; one left by a process killed while taking the lock expires after this. */
const GATE_STALE_MS = 5_000;
/** Waiting for the gate while other processes take their turn (about as long as a stale gate takes to expire). */
const GATE_RETRIES = { retries: 40, factor: 1.2, minTimeout: 10, maxTimeout: 250, randomize: true };

export interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
  /** What the owner is, e.g. "reelay server" or "npm run keys". */
  purpose: string;
  command: string;
}

/** The data directory cannot be locked (one line for the operator). */
export class DataDirLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirLockError';
  }
}

/** The data directory is held by another live process. */
export class DataDirLockedError extends DataDirLockError {
  constructor(
    readonly dir: string,
    readonly owner: LockOwner | undefined,
  ) {
    const who = owner
      ? `pid ${owner.pid}${owner.hostname !== os.hostname() ? ` on ${owner.hostname}` : ''} (${owner.purpose}: ${owner.command}, since ${owner.startedAt})`
      : 'another process';
    super(`the embedded database ${dir} is in use by ${who}; stop it first, or set DATABASE_URL to share a Postgres between processes`);
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  owner: LockOwner;
  release(): Promise<void>;
}

/** Where the lock, the owner file and the running server's control socket live: private to the owner's user. */
export function runDirOf(dataDir: string): string {
  return `${path.resolve(dataDir)}.lock`;
}

function paths(dataDir: string) {
  const runDir = runDirOf(dataDir);
  return { runDir, held: path.join(runDir, 'held'), gate: path.join(runDir, 'acquiring'), ownerFile: path.join(runDir, 'owner.json') };
}

export function readLockOwner(dataDir: string): LockOwner | undefined {
  try {
    return JSON.parse(fs.readFileSync(paths(dataDir).ownerFile, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Data directories this process holds. */
const heldHere = new Set<string>();

/** A previous owner on this machine that no longer runs (our own pid but not held here: a restarted container's previous life). */
function ownerIsGone(dataDir: string, owner: LockOwner | undefined): boolean {
  if (!owner || owner.hostname !== os.hostname()) return false;
  return owner.pid === process.pid ? !heldHere.has(dataDir) : !isAlive(owner.pid);
}

const codeOf = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code;

export async function lockDataDir(dir: string, purpose: string, onCompromised?: (err: Error) => void): Promise<DataDirLock> {
  const dataDir = path.resolve(dir);
  try {
    return await lockBehindGate(dataDir, purpose, onCompromised);
  } catch (err) {
    if (err instanceof DataDirLockError) throw err;
    // A lock that changed hands under us (removed, replaced) is someone else's start; anything else is the directory's problem.
    if (['ELOCKED', 'ENOENT', 'EEXIST', 'ENOTEMPTY', 'ECOMPROMISED'].includes(codeOf(err) ?? '')) throw new DataDirLockedError(dataDir, readLockOwner(dataDir));
    throw new DataDirLockError(`cannot lock the embedded database ${dataDir}: ${String((err as Error)?.message ?? err).split('\n')[0]}`);
  }
}

async function lockBehindGate(dataDir: string, purpose: string, onCompromised?: (err: Error) => void): Promise<DataDirLock> {
  const { runDir, held, gate, ownerFile } = paths(dataDir);
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
  fs.chmodSync(runDir, 0o700);
  const options = {
    stale: STALE_MS,
    realpath: false,
    lockfilePath: held,
    onCompromised: onCompromised ?? ((err: Error) => {
      throw err;
    }),
  };
  // Keyed by runDir (not dataDir): proper-lockfile keeps one lock per path and process.
  const closeGate = await lockfile.lock(runDir, { stale: GATE_STALE_MS, realpath: false, lockfilePath: gate, retries: GATE_RETRIES, onCompromised: () => {} });
  let release: () => Promise<void>;
  const owner: LockOwner = {
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    purpose,
    command: [path.basename(process.argv0), ...process.argv.slice(1).map((a) => (path.isAbsolute(a) ? path.relative(process.cwd(), a) || '.' : a))].join(' '),
  };
  try {
    try {
      release = await lockfile.lock(dataDir, options);
    } catch (err) {
      if (codeOf(err) !== 'ELOCKED') throw err;
      // Behind the gate every holder has written its owner file: this is the owner of the lock removed here.
      const previous = readLockOwner(dataDir);
      if (!ownerIsGone(dataDir, previous)) throw new DataDirLockedError(dataDir, previous);
      fs.rmSync(held, { recursive: true, force: true });
      release = await lockfile.lock(dataDir, options);
    }
    try {
      const tmp = `${ownerFile}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(owner), { mode: 0o600 });
      fs.renameSync(tmp, ownerFile);
      // Re-check: the lock and the owner file are still ours (a gate taken over as stale would show here).
      const now = readLockOwner(dataDir);
      if (now?.pid !== owner.pid || now.startedAt !== owner.startedAt || !(await lockfile.check(dataDir, { stale: STALE_MS, realpath: false, lockfilePath: held }))) {
        throw new DataDirLockedError(dataDir, now);
      }
      // Before the gate opens: a caller in this process must not take our pid for a previous life's.
      heldHere.add(dataDir);
    } catch (err) {
      await release().catch(() => {});
      throw err;
    }
  } finally {
    await closeGate().catch(() => {});
  }
  let released = false;
  return {
    owner,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(dataDir);
      if (readLockOwner(dataDir)?.pid === process.pid) fs.rmSync(ownerFile, { force: true });
      await release().catch(() => {});
    },
  };
}
