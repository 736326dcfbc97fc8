// Indexes on tasks built after the migrations, without blocking writes: a
// drizzle migration runs in one transaction, where CREATE INDEX would hold a
// lock that stops every insert and update of tasks for the whole build (minutes
// at millions of rows). On Postgres each is built with CREATE INDEX
// CONCURRENTLY outside a transaction; an INVALID leftover of an interrupted
// build is dropped and built again. Idempotent: an index already valid is left
// alone. They are declared in schema.ts too (so drizzle-kit's snapshot knows
// them) and removed from the generated migration by hand.
import { sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';

export interface OnlineIndex {
  name: string;
  /** What follows `on` in CREATE INDEX. */
  definition: string;
  /** An extension the index needs; without it the index is skipped (a warning), not an error. */
  extension?: string;
  /** Not built on the embedded PGlite (the extension would be loaded at every start for it). */
  postgresOnly?: boolean;
}

export const ONLINE_INDEXES: readonly OnlineIndex[] = [
  { name: 'tasks_active', definition: "tasks using btree (status, provider_id) where status in ('QUEUED', 'PROCESSING')" },
  { name: 'tasks_owner_status_created', definition: 'tasks using btree (owner, status, created_at, id)' },
  { name: 'tasks_owner_provider_created', definition: 'tasks using btree (owner, provider_id, created_at, id)' },
  { name: 'tasks_owner_model_created', definition: 'tasks using btree (owner, model, created_at, id)' },
  // Retention sweeps: finished tasks oldest first, and those of them that still have stored files.
  { name: 'tasks_finished_completed', definition: "tasks using btree (completed_at) where status in ('COMPLETED', 'FAILED', 'CANCELLED')" },
  {
    name: 'tasks_files_completed',
    definition: "tasks using btree (completed_at) where status in ('COMPLETED', 'FAILED', 'CANCELLED') and file_expired_at is null and (result is not null or input_image->>'kind' = 'file')",
  },
  { name: 'tasks_prompt_trgm', definition: 'tasks using gin (prompt gin_trgm_ops)', extension: 'pg_trgm', postgresOnly: true },
  { name: 'tasks_completed_runs', definition: "tasks using btree (provider_id, coalesce(model, ''), completed_at desc nulls last) where status = 'COMPLETED'" },
  { name: 'tasks_running', definition: "tasks using btree (provider_id, started_at) where status = 'PROCESSING'" },
];

/** Indexes made obsolete by an online one: dropped (concurrently) once their replacement is valid. */
export const RETIRED_INDEXES: ReadonlyArray<{ name: string; replacedBy: string }> = [
  // It had next_poll_at, which every progress write changes: no progress write could be a HOT update.
  { name: 'tasks_due', replacedBy: 'tasks_active' },
];

export interface IndexReport {
  built: string[];
  rebuilt: string[];
  dropped: string[];
  skipped: Array<{ name: string; reason: string }>;
}

/** The index's state: missing, valid, or invalid (a CONCURRENTLY build that did not finish). */
async function indexState(db: DbOrTx, name: string): Promise<'missing' | 'valid' | 'invalid'> {
  const [row] = await execRows<{ valid: boolean }>(
    db,
    sql`select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid
        where c.relname = ${name} and c.relnamespace = current_schema()::regnamespace`,
  );
  if (!row) return 'missing';
  return row.valid ? 'valid' : 'invalid';
}

async function ensureExtension(db: DbOrTx, extension: string): Promise<string | null> {
  try {
    await db.execute(sql.raw(`create extension if not exists ${extension}`));
    return null;
  } catch (err) {
    return `extension ${extension} unavailable: ${(err as Error).message.split('\n')[0]}`;
  }
}

/**
 * Build every index of ONLINE_INDEXES that is missing or invalid. `db` must not
 * be inside a transaction (CONCURRENTLY refuses to run in one).
 */
export async function buildOnlineIndexes(db: DbOrTx, driver: 'pglite' | 'postgres'): Promise<IndexReport> {
  const report: IndexReport = { built: [], rebuilt: [], dropped: [], skipped: [] };
  // The embedded database has one connection and one process: a plain build blocks nobody else.
  const concurrently = driver === 'postgres' ? 'concurrently ' : '';
  for (const index of ONLINE_INDEXES) {
    if (index.postgresOnly && driver !== 'postgres') {
      report.skipped.push({ name: index.name, reason: 'not on the embedded database' });
      continue;
    }
    const state = await indexState(db, index.name);
    if (state === 'valid') continue;
    if (index.extension) {
      const missing = await ensureExtension(db, index.extension);
      if (missing) {
        report.skipped.push({ name: index.name, reason: missing });
        continue;
      }
    }
    if (state === 'invalid') await db.execute(sql.raw(`drop index ${concurrently}if exists ${index.name}`));
    await db.execute(sql.raw(`create index ${concurrently}if not exists ${index.name} on ${index.definition}`));
    (state === 'invalid' ? report.rebuilt : report.built).push(index.name);
  }
  for (const old of RETIRED_INDEXES) {
    if ((await indexState(db, old.name)) === 'missing' || (await indexState(db, old.replacedBy)) !== 'valid') continue;
    await db.execute(sql.raw(`drop index ${concurrently}if exists ${old.name}`));
    report.dropped.push(old.name);
  }
  return report;
}
