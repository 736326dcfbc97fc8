// File retention (REELAY_FILE_RETENTION_DAYS): finished tasks past the window
// that still have stored files (a result or an uploaded input image) are found
// oldest first; once their files are removed, file_expired_at marks the row,
// which stays, and `fileExpired: true` is added to its result (what
// `result.fileExpired` reads, with no column beyond `result`); /files/ answers
// 410 Gone for it.
import { sql } from 'drizzle-orm';
import { execRows, uuidArray, type DbOrTx } from './client.js';
import { cutoffSql } from './delete-expired-tasks.js';
import { tasks } from './schema.js';

/** Same predicate as the partial index tasks_files_completed (online-indexes.ts), so the index serves it. */
const HAS_FILES = sql`status in ('COMPLETED', 'FAILED', 'CANCELLED') and file_expired_at is null and (result is not null or input_image->>'kind' = 'file')`;

/** Ids of up to `limit` finished tasks with files, completed before the cutoff, oldest first. */
export async function findTasksWithExpiredFiles(db: DbOrTx, olderThanMs: number, limit: number): Promise<string[]> {
  const rows = await execRows<{ id: string }>(
    db,
    sql`select id from ${tasks} where ${HAS_FILES} and completed_at < ${cutoffSql(olderThanMs)} order by completed_at limit ${limit}`,
  );
  return rows.map((r) => r.id);
}

/**
 * Mark the files of those of `ids` not marked yet as removed (rows locked
 * elsewhere are skipped, for a later sweep); returns the ids marked. Not a
 * state change: no version bump, no event.
 */
export async function markFilesExpired(db: DbOrTx, ids: readonly string[]): Promise<string[]> {
  if (!ids.length) return [];
  const rows = await execRows<{ id: string }>(
    db,
    sql`update ${tasks} set file_expired_at = now(),
        result = case when result is null then null else result || '{"fileExpired": true}'::jsonb end
      where id in (
        select id from ${tasks} where id = any(${uuidArray(ids)}) and file_expired_at is null
        for update skip locked
      )
      returning id`,
  );
  return rows.map((r) => r.id);
}

/** Whether task `id` exists and retention removed its files (/files/ answers 410 rather than 404). */
export async function filesExpired(db: DbOrTx, id: string): Promise<boolean> {
  const [row] = await execRows<{ x: number }>(db, sql`select 1 as x from ${tasks} where id = ${id}::uuid and file_expired_at is not null`);
  return !!row;
}
