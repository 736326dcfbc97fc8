// Opens the store: postgres.js when DATABASE_URL is set, otherwise an embedded
// PGlite on disk (or in memory for tests). Migrations from drizzle/ are applied
// on open, serialized by an advisory lock so several processes can start at once.
// PGlite (a WebAssembly Postgres, several MB of memory once loaded) is imported
// only by a process that uses it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { lockDataDir } from './lock.js';
import { maintainPglite, maintainPostgresInBackground, type MaintenanceLog } from './maintain.js';
import { preparingStatements } from './prepared-statements.js';
import { PriorityLane } from './priority-lane.js';
import * as schema from './schema.js';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle; the same query API as Db. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export type Notification = (payload: string) => void;

export interface Database {
  /** The API's handle (and everything else that answers a client). */
  db: Db;
  /**
   * Background work (the runner, health checks): its own connection pool on
   * Postgres, so API queries never queue behind it; on the single-connection
   * PGlite, its queries wait while API queries are pending (see priority-lane.ts).
   */
  workDb: Db;
  /** Background work too, without the query logger: periodic chores (the counter roll-up) that are no request's queries. */
  choresDb: Db;
  driver: 'pglite' | 'postgres';
  /** The embedded database's directory (held by this process); unset for Postgres and in-memory PGlite. */
  dataDir?: string;
  /** Subscribe to a channel; `onReconnect` runs after the listener is (re)established. */
  listen(channel: string, fn: Notification, onReconnect?: () => void): Promise<() => Promise<void>>;
  /**
   * Settles when the work after the migrations (counter back-fill, indexes built
   * concurrently; src/db/maintain.ts) is done: at once on PGlite, in the
   * background on Postgres. Answers are the same before; only slower.
   */
  maintenance: Promise<void>;
  close(): Promise<void>;
}

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');
const MIGRATION_LOCK = 7_270_001;

export interface OpenOptions {
  databaseUrl?: string;
  /** PGlite data directory; omitted → in memory. */
  dataDir?: string;
  /** Pool size for postgres.js (the API's pool). */
  maxConnections?: number;
  /** Pool size of the background work's own pool (postgres.js); connections open only when used. */
  workConnections?: number;
  /** Sees every query (tests count them; debugging). */
  logger?: { logQuery(query: string, params: unknown[]): void };
  /** Who opens an embedded data directory, named to a second process that tries (e.g. "reelay server"). */
  purpose?: string;
  /** Another process took over the embedded data directory's lock (default: throw). */
  onLockCompromised?: (err: Error) => void;
  /** Where the maintenance after the migrations reports (indexes built, back-fills, failures). */
  log?: MaintenanceLog;
}

/** Seconds a connection attempt to Postgres may take before it counts as unreachable. */
const CONNECT_TIMEOUT_S = 10;

/** DATABASE_URL does not lead to a usable database (refused, unknown host, authentication, timeout, no such database). */
export class DatabaseUnavailableError extends Error {
  constructor(url: string, cause: unknown) {
    super(`cannot connect to the database at ${describeUrl(url)}: ${describeConnectError(cause)}`);
    this.name = 'DatabaseUnavailableError';
  }
}

/** The URL without its password, for messages. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

function describeConnectError(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: Array<{ code?: string; message?: string }> };
  // Several addresses for one name fail as an AggregateError with an empty message.
  const first = e.errors?.[0] ?? e;
  const message = (first.message || e.message || String(err)).split('\n')[0]!;
  const code = first.code ?? e.code;
  if (code === 'CONNECT_TIMEOUT') return `no answer within ${CONNECT_TIMEOUT_S} s`;
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  return opts.databaseUrl
    ? openPostgres(opts.databaseUrl, opts.maxConnections ?? 10, opts.workConnections ?? 6, opts.logger, opts.log)
    : openPglite(opts.dataDir, opts.logger, opts.purpose ?? 'reelay', opts.onLockCompromised, opts.log);
}

/** The first round trip, with a deadline of our own: postgres.js keeps a query waiting while it retries a connection that times out. */
async function reachable(client: postgres.Sql): Promise<void> {
  const query = client`select 1`;
  query.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'CONNECT_TIMEOUT' })), CONNECT_TIMEOUT_S * 1000);
  });
  try {
    await Promise.race([query, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function openPostgres(url: string, max: number, workMax: number, logger?: OpenOptions['logger'], log?: MaintenanceLog): Promise<Database> {
  // Migrate on a one-connection client so the session advisory lock covers it.
  const migrator = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: CONNECT_TIMEOUT_S });
  try {
    await reachable(migrator);
  } catch (err) {
    await migrator.end({ timeout: 0 }).catch(() => {});
    throw new DatabaseUnavailableError(url, err);
  }
  try {
    await migrator`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migratePostgres(drizzlePostgres(migrator), { migrationsFolder: MIGRATIONS_DIR });
    await migrator`select pg_advisory_unlock(${MIGRATION_LOCK})`;
  } finally {
    await migrator.end({ timeout: 5 });
  }
  // No JIT: reelay's queries are short, and compiling one (the fair-queue queries' estimates can pass jit_above_cost) costs far more than it saves.
  const client = preparingStatements(postgres(url, { max, onnotice: () => {}, connect_timeout: CONNECT_TIMEOUT_S, connection: { application_name: 'reelay', jit: 'off' } }));
  const db = drizzlePostgres(client, { schema, logger }) as unknown as Db;
  // The runner's own pool: a burst of completions keeps its connections busy, never the API's.
  // postgres.js connects lazily, so a process that runs no background work opens none of them.
  const work = preparingStatements(postgres(url, { max: workMax, onnotice: () => {}, connect_timeout: CONNECT_TIMEOUT_S, connection: { application_name: 'reelay-runner', jit: 'off' } }));
  const workDb = drizzlePostgres(work, { schema, logger }) as unknown as Db;
  const maintenance = maintainPostgresInBackground(url, log);
  return {
    db,
    workDb,
    choresDb: drizzlePostgres(work, { schema }) as unknown as Db,
    driver: 'postgres',
    async listen(channel, fn, onReconnect) {
      const sub = await client.listen(channel, (payload) => fn(payload), () => onReconnect?.());
      return () => sub.unlisten();
    },
    maintenance: maintenance.done,
    async close() {
      await maintenance.cancel();
      await Promise.all([client.end({ timeout: 5 }), work.end({ timeout: 5 })]);
    },
  };
}

async function openPglite(dataDir: string | undefined, logger: OpenOptions['logger'], purpose: string, onLockCompromised?: (err: Error) => void, log?: MaintenanceLog): Promise<Database> {
  if (dataDir) fs.mkdirSync(dataDir, { recursive: true });
  // Before PGlite touches the directory: a second owner must not even read it.
  const lock = dataDir ? await lockDataDir(dataDir, purpose, onLockCompromised) : undefined;
  try {
    const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('drizzle-orm/pglite'),
      import('drizzle-orm/pglite/migrator'),
    ]);
    const client = dataDir ? new PGlite(dataDir) : new PGlite();
    await client.waitReady;
    // One connection for everything: API queries go first (priority-lane.ts).
    const lane = new PriorityLane(client);
    const db = drizzlePglite({ client: lane.first, schema, logger }) as unknown as Db;
    const workDb = drizzlePglite({ client: lane.after, schema, logger }) as unknown as Db;
    try {
      await migratePglite(drizzlePglite(client), { migrationsFolder: MIGRATIONS_DIR });
      await maintainPglite(drizzlePglite(client) as unknown as Db, log);
    } catch (err) {
      await client.close().catch(() => {});
      throw err;
    }
    return {
      db,
      workDb,
      choresDb: drizzlePglite({ client: lane.after, schema }) as unknown as Db,
      driver: 'pglite',
      dataDir: dataDir && path.resolve(dataDir),
      maintenance: Promise.resolve(),
      async listen(channel, fn, onReconnect) {
        const unlisten = await client.listen(channel, (payload) => fn(payload));
        onReconnect?.();
        return unlisten;
      },
      async close() {
        try {
          await client.close();
        } finally {
          await lock?.release();
        }
      },
    };
  } catch (err) {
    await lock?.release();
    throw err;
  }
}

/** Rows of a raw `execute`, whichever driver ran it. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

export async function execRows<T>(db: DbOrTx, query: ReturnType<typeof sql>): Promise<T[]> {
  return rowsOf<T>(await db.execute(query));
}

/**
 * Task ids as one uuid[] parameter (`= any(${uuidArray(ids)})`): one bound value
 * whatever the count, so the statement text (and its plan) stays the same.
 * The ids are UUIDs (checked upstream), which need no quoting in an array literal.
 */
export function uuidArray(ids: readonly string[]): SQL {
  return sql`${`{${ids.join(',')}}`}::uuid[]`;
}

/**
 * Rows as one JSON parameter, a row source for FROM: `jsonb_to_recordset(…) as
 * <alias> (<columns>)`, `columns` being SQL column definitions (`id uuid, n int`)
 * named like the rows' keys. Like uuidArray, one statement text whatever the
 * number of rows, where a VALUES list or a multi-row INSERT made one per count.
 */
export function jsonRecords(rows: readonly object[], alias: string, columns: string): SQL {
  return sql`jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as ${sql.raw(alias)} (${sql.raw(columns)})`;
}
