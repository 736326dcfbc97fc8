// The TaskFilter of the API as SQL conditions, shared by list, count and stats.
import { and, eq, gte, ilike, inArray, lt, type SQL } from 'drizzle-orm';
import { tasks, type TaskStatus } from './schema.js';

export interface TaskFilter {
  status?: TaskStatus[] | null;
  provider?: string | null;
  model?: string | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
  search?: string | null;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => '\\' + c);
}

/** Conditions for one owner's tasks matching the filter; `owner` null means all owners. */
export function taskConditions(owner: string | null, filter: TaskFilter = {}): SQL | undefined {
  const conds: SQL[] = [];
  if (owner !== null) conds.push(eq(tasks.owner, owner));
  if (filter.status?.length) conds.push(inArray(tasks.status, filter.status));
  if (filter.provider) conds.push(eq(tasks.providerId, filter.provider));
  if (filter.model) conds.push(eq(tasks.model, filter.model));
  if (filter.createdAfter) conds.push(gte(tasks.createdAt, filter.createdAfter));
  if (filter.createdBefore) conds.push(lt(tasks.createdAt, filter.createdBefore));
  if (filter.search?.trim()) conds.push(ilike(tasks.prompt, `%${escapeLike(filter.search.trim())}%`));
  return conds.length ? and(...conds) : undefined;
}
