// Keyset pagination over (created_at, id): stable under inserts, no OFFSET scans.
import { and, asc, desc, sql, type Placeholder, type SQL } from 'drizzle-orm';
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

type Column = keyof TaskRow;
type Key = { createdAt: string | Placeholder; id: string | Placeholder };

// A row comparison, not `a < x or (a = x and b < y)`: Postgres turns it into a
// bound of the index scan, so page 1,000 costs what page 1 does.
function beyond(key: Key, newer: boolean): SQL {
  const at = sql`${key.createdAt}::timestamptz`;
  const id = sql`${key.id}::uuid`;
  return newer ? sql`(${tasks.createdAt}, ${tasks.id}) > (${at}, ${id})` : sql`(${tasks.createdAt}, ${tasks.id}) < (${at}, ${id})`;
}

function select(db: DbOrTx, columns: ReadonlyArray<Column> | null | undefined) {
  return columns ? db.select(Object.fromEntries(columns.map((c) => [c, tasks[c]])) as typeof tasks._.columns) : db.select();
}

function ordered(walkAscending: boolean) {
  return walkAscending ? [asc(tasks.createdAt), asc(tasks.id)] : [desc(tasks.createdAt), desc(tasks.id)];
}

// Pages without a filter (the common list) run a query built once per shape
// (columns, direction, cursor or not) and database handle: drizzle then only
// fills in the values instead of building the SQL text on every request.
const MAX_SHAPES = 64;
type Prepared = { execute(values: Record<string, unknown>): Promise<unknown[]> };
const preparedByDb = new WeakMap<DbOrTx, Map<string, Prepared>>();

function preparedPage(db: DbOrTx, columns: ReadonlyArray<Column> | null | undefined, walkAscending: boolean, withCursor: boolean): Prepared | null {
  let shapes = preparedByDb.get(db);
  if (!shapes) preparedByDb.set(db, (shapes = new Map()));
  const shape = `${walkAscending ? 'a' : 'd'}${withCursor ? 'c' : ''}:${columns ? columns.join(',') : '*'}`;
  let query = shapes.get(shape);
  if (query) return query;
  if (shapes.size >= MAX_SHAPES) return null;
  const owner = sql.placeholder('owner');
  const where = withCursor ? and(sql`${tasks.owner} = ${owner}`, beyond({ createdAt: sql.placeholder('at'), id: sql.placeholder('id') }, walkAscending)) : sql`${tasks.owner} = ${owner}`;
  query = select(db, columns)
    .from(tasks)
    .where(where)
    .orderBy(...ordered(walkAscending))
    .limit(sql.placeholder('limit'))
    .prepare(`list_tasks_${shapes.size}`) as unknown as Prepared;
  shapes.set(shape, query);
  return query;
}

function hasFilter(filter: TaskFilter | undefined): boolean {
  return !!filter && Object.values(filter).some((v) => v !== null && v !== undefined);
}

/** Up to `limit` rows in `order`, plus whether more exist in the walking direction. */
export async function listTasks(db: DbOrTx, args: ListTasksArgs): Promise<{ rows: TaskRow[]; more: boolean }> {
  const descending = args.order === 'CREATED_AT_DESC';
  // Walking backward through a descending list means walking forward in time.
  const walkAscending = descending === (args.direction === 'backward');
  const cursor = args.cursor ? { createdAt: args.cursor.createdAt.toISOString(), id: args.cursor.id } : null;
  // One owner's unfiltered page (the common list); an operator's list of every owner is built per call.
  const prepared = args.owner === null || hasFilter(args.filter) ? null : preparedPage(db, args.columns, walkAscending, !!cursor);
  let rows: TaskRow[];
  if (prepared) {
    rows = (await prepared.execute({ owner: args.owner, at: cursor?.createdAt, id: cursor?.id, limit: args.limit + 1 })) as TaskRow[];
  } else {
    const conds = [taskConditions(args.owner, args.filter)];
    if (cursor) conds.push(beyond(cursor, walkAscending));
    rows = (await select(db, args.columns)
      .from(tasks)
      .where(and(...conds))
      .orderBy(...ordered(walkAscending))
      .limit(args.limit + 1)) as TaskRow[];
  }
  const more = rows.length > args.limit;
  const page = rows.length > args.limit ? rows.slice(0, args.limit) : rows;
  if (args.direction === 'backward') page.reverse();
  return { rows: page, more };
}
