// Keyset pagination over (created_at, id): stable under inserts, no OFFSET scans.
import { and, asc, desc, sql, type SQL } from 'drizzle-orm';
import type { DbOrTx } from './client.js';
import type { CursorKey } from './cursor.js';
import { tasks, type TaskRow } from './schema.js';
import { taskConditions, type TaskFilter } from './task-filter.js';

export type TaskOrder = 'CREATED_AT_DESC' | 'CREATED_AT_ASC';

export interface ListTasksArgs {
  /** Whose tasks; null: every owner's (operator keys). */
  owner: string | null;
  filter?: TaskFilter;
  order: TaskOrder;
  /** Rows after this key in `order` (forward) or before it (backward). */
  cursor?: CursorKey | null;
  direction: 'forward' | 'backward';
  limit: number;
  /** Load only these columns (the rest of each row is left out); omitted or null: all. */
  columns?: ReadonlyArray<keyof TaskRow> | null;
}

// A row comparison, not `a < x or (a = x and b < y)`: Postgres turns it into a
// bound of the index scan, so page 1,000 costs what page 1 does.
function beyond(key: CursorKey, newer: boolean): SQL {
  const at = sql`${key.createdAt.toISOString()}::timestamptz`;
  const id = sql`${key.id}::uuid`;
  return newer ? sql`(${tasks.createdAt}, ${tasks.id}) > (${at}, ${id})` : sql`(${tasks.createdAt}, ${tasks.id}) < (${at}, ${id})`;
}

/** Up to `limit` rows in `order`, plus whether more exist in the walking direction. */
export async function listTasks(db: DbOrTx, args: ListTasksArgs): Promise<{ rows: TaskRow[]; more: boolean }> {
  const descending = args.order === 'CREATED_AT_DESC';
  // Walking backward through a descending list means walking forward in time.
  const walkAscending = descending === (args.direction === 'backward');
  const conds = [taskConditions(args.owner, args.filter)];
  if (args.cursor) conds.push(beyond(args.cursor, walkAscending));
  const query = args.columns ? db.select(Object.fromEntries(args.columns.map((c) => [c, tasks[c]])) as typeof tasks._.columns) : db.select();
  const rows = (await query
    .from(tasks)
    .where(and(...conds))
    .orderBy(...(walkAscending ? [asc(tasks.createdAt), asc(tasks.id)] : [desc(tasks.createdAt), desc(tasks.id)]))
    .limit(args.limit + 1)) as TaskRow[];
  const more = rows.length > args.limit;
  const page = rows.slice(0, args.limit);
  if (args.direction === 'backward') page.reverse();
  return { rows: page, more };
}
