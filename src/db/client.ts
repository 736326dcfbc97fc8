// Opens the store: postgres.js when DATABASE_URL is set, otherwise an embedded
// PGlite on disk (or in memory for tests). Migrations from drizzle/ are applied
// on open, serialized by an advisory lock so several processes can start at once.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle; the same query API as Db. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export type Notification = (payload: string) => void;

export interface Database {
  db: Db;
  driver: 'pglite' | 'postgres';
  /** Subscribe to a channel; `onReconnect` runs after the listener is (re)established. */
  listen(channel: string, fn: Notification, onReconnect?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');
const MIGRATION_LOCK = 7_270_001;

export interface OpenOptions {
  databaseUrl?: string;
  /** PGlite data directory; omitted → in memory. */
  dataDir?: string;
  /** Pool size for postgres.js. */
  maxConnections?: number;
  /** Sees every query (tests count them; debugging). */
  logger?: { logQuery(query: string, params: unknown[]): void };
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  return opts.databaseUrl ? openPostgres(opts.databaseUrl, opts.maxConnections ?? 10, opts.logger) : openPglite(opts.dataDir, opts.logger);
}

async function openPostgres(url: string, max: number, logger?: OpenOptions['logger']): Promise<Database> {
  // Migrate on a one-connection client so the session advisory lock covers it.
  const migrator = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await migrator`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migratePostgres(drizzlePostgres(migrator), { migrationsFolder: MIGRATIONS_DIR });
    await migrator`select pg_advisory_unlock(${MIGRATION_LOCK})`;
  } finally {
    await migrator.end({ timeout: 5 });
  }
  // No JIT: reelay's queries are short, and compiling one (the fair-queue queries' estimates can pass jit_above_cost) costs far more than it saves.
  const client = postgres(url, { max, onnotice: () => {}, connection: { application_name: 'reelay', jit: 'off' } });
  const db = drizzlePostgres(client, { schema, logger }) as unknown as Db;
  return {
    db,
    driver: 'postgres',
    async listen(channel, fn, onReconnect) {
      const sub = await client.listen(channel, (payload) => fn(payload), () => onReconnect?.());
      return () => sub.unlisten();
    },
    close: () => client.end({ timeout: 5 }),
  };
}

async function openPglite(dataDir?: string, logger?: OpenOptions['logger']): Promise<Database> {
  if (dataDir) fs.mkdirSync(dataDir, { recursive: true });
  const client = dataDir ? new PGlite(dataDir) : new PGlite();
  await client.waitReady;
  const db = drizzlePglite(client, { schema, logger }) as unknown as Db;
  await migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS_DIR });
  return {
    db,
    driver: 'pglite',
    async listen(channel, fn, onReconnect) {
      const unlisten = await client.listen(channel, (payload) => fn(payload));
      onReconnect?.();
      return unlisten;
    },
    close: () => client.close(),
  };
}

/** Rows of a raw `execute`, whichever driver ran it. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

export async function execRows<T>(db: DbOrTx, query: ReturnType<typeof sql>): Promise<T[]> {
  return rowsOf<T>(await db.execute(query));
}
