// One process at a time on an embedded (PGlite) data directory: two would each
// keep their own copy of the database in memory and overwrite each other's
// writes. The lock is proper-lockfile's (an atomic mkdir, kept fresh by its
// mtime, so even a lock whose owner vanished without trace expires), next to an
// owner file saying who holds it: a refusal names the running process, and a
// lock whose owner is provably dead on this machine (SIGKILL, crash, power
// loss) is taken over at once instead of after the staleness period.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';

/** Without an mtime update for this long, a lock counts as abandoned even if its owner cannot be checked. */
const STALE_MS = 30_000;

export interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
  /** What the owner is, e.g. "reelay server" or "npm run keys". */
  purpose: string;
  command: string;
}

/** The data directory is held by another live process. */
export class DataDirLockedError extends Error {
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
  return { runDir, held: path.join(runDir, 'held'), ownerFile: path.join(runDir, 'owner.json') };
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

export async function lockDataDir(dir: string, purpose: string, onCompromised?: (err: Error) => void): Promise<DataDirLock> {
  const dataDir = path.resolve(dir);
  const { runDir, held, ownerFile } = paths(dataDir);
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
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(dataDir, options);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    const owner = readLockOwner(dataDir);
    if (!ownerIsGone(dataDir, owner)) throw new DataDirLockedError(dataDir, owner);
    fs.rmSync(held, { recursive: true, force: true });
    try {
      release = await lockfile.lock(dataDir, options);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirLockedError(dataDir, readLockOwner(dataDir));
      throw again;
    }
  }
  const owner: LockOwner = {
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    purpose,
    command: [path.basename(process.argv0), ...process.argv.slice(1).map((a) => (path.isAbsolute(a) ? path.relative(process.cwd(), a) || '.' : a))].join(' '),
  };
  const tmp = `${ownerFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(owner), { mode: 0o600 });
  fs.renameSync(tmp, ownerFile);
  heldHere.add(dataDir);
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
