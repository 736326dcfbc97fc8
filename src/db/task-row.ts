// A tasks row read by SQL drizzle did not build (`returning *`, a row stored as
// to_jsonb(tasks)), mapped as Drizzle's own select would: keys by property
// name, each value through its column's driver mapping (timestamps to Date).
import { getTableColumns } from 'drizzle-orm';
import { tasks, type TaskRow } from './schema.js';

const COLUMNS = Object.entries(getTableColumns(tasks));

/** `raw` keyed by SQL column name; a column it lacks reads null. */
export function toTaskRow(raw: Record<string, unknown>): TaskRow {
  const row: Record<string, unknown> = {};
  for (const [key, column] of COLUMNS) {
    const value = raw[column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as TaskRow;
}
