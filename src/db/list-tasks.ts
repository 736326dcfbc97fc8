// Keyset pagination over (created_at, id): stable under inserts, no OFFSET scans.
import { and, asc, desc, eq, gt, lt, or, type SQL } from 'drizzle-orm';
import type { DbOrTx } from './client.js';
import type { CursorKey } from './cursor.js';
import { tasks, type TaskRow } from './schema.js';
import { taskConditions, type TaskFilter } from './task-filter.js';

export type TaskOrder = 'CREATED_AT_DESC' | 'CREATED_AT_ASC';

export interface ListTasksArgs {
  owner: string;
  filter?: TaskFilter;
  order: TaskOrder;
  /** Rows after this key in `order` (forward) or before it (backward). */
  cursor?: CursorKey | null;
  direction: 'forward' | 'backward';
  limit: number;
}

function beyond(key: CursorKey, newer: boolean): SQL {
  const cmp = newer ? gt : lt;
  return or(cmp(tasks.createdAt, key.createdAt), and(eq(tasks.createdAt, key.createdAt), cmp(tasks.id, key.id)))!;
}

/** Up to `limit` rows in `order`, plus whether more exist in the walking direction. */
export async function listTasks(db: DbOrTx, args: ListTasksArgs): Promise<{ rows: TaskRow[]; more: boolean }> {
  const descending = args.order === 'CREATED_AT_DESC';
  // Walking backward through a descending list means walking forward in time.
  const walkAscending = descending === (args.direction === 'backward');
  const conds = [taskConditions(args.owner, args.filter)];
  if (args.cursor) conds.push(beyond(args.cursor, walkAscending));
  const rows = await db
    .select()
    .from(tasks)
    .where(and(...conds))
    .orderBy(...(walkAscending ? [asc(tasks.createdAt), asc(tasks.id)] : [desc(tasks.createdAt), desc(tasks.id)]))
    .limit(args.limit + 1);
  const more = rows.length > args.limit;
  const page = rows.slice(0, args.limit);
  if (args.direction === 'backward') page.reverse();
  return { rows: page, more };
}
