// Ordering the rows of a task that subscribers receive: by the row's version,
// which every change bumps under the row lock, never by updated_at (the
// changing transaction's start time, which runs backwards when a transaction
// that began earlier commits later). A row is handed out only when its
// version is above the last one handed out for that task; older rows (a load
// that began before a newer one ended) and repeats (a re-sync re-reading what
// was already seen) are dropped.
import { TERMINAL_STATUSES, type TaskRow } from '../db/schema.js';

type Versioned = Pick<TaskRow, 'version'>;

/** Whether `next` is a later state of the task than `last`. */
export function isNewer(next: Versioned, last: Versioned | undefined): boolean {
  return !last || next.version > last.version;
}

type Row = Pick<TaskRow, 'id' | 'version' | 'status' | 'changeXid'>;

/**
 * The last version seen per task, for a subscription over many tasks. Finished
 * tasks never change again, so they are forgotten once no re-sync can bring
 * them back (their change_xid is below what the feed has surely delivered).
 */
export class SeenVersions {
  private readonly active = new Map<string, number>();
  private readonly finished = new Map<string, { version: number; xid: number }>();
  private pruneAt = 1000;

  /** Records the row; true when it is newer than anything seen for its task. */
  offer(row: Row): boolean {
    const last = this.active.get(row.id) ?? this.finished.get(row.id)?.version;
    if (last !== undefined && row.version <= last) return false;
    if (TERMINAL_STATUSES.includes(row.status)) {
      this.active.delete(row.id);
      this.finished.set(row.id, { version: row.version, xid: row.changeXid });
    } else {
      this.active.set(row.id, row.version);
    }
    return true;
  }

  /** Forget finished tasks whose last change is below `floor` (checked when enough have piled up). */
  prune(floor: number): void {
    if (this.finished.size < this.pruneAt) return;
    for (const [id, f] of this.finished) if (f.xid < floor) this.finished.delete(id);
    this.pruneAt = Math.max(1000, this.finished.size * 2);
  }

  get size(): number {
    return this.active.size + this.finished.size;
  }
}
