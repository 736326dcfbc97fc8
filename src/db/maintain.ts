// Work on the data that follows the migrations and must not block writes: the
// counter and history back-fills (and the fill of the history's series table)
// and the indexes built concurrently. On Postgres it runs in
// the background on a connection of its own, in one process at a time (a
// session advisory lock; the others skip it), while the process already serves:
// until it is done, counts fall back to scans and lists to the older indexes,
// with the same answers. Embedded PGlite runs it before opening (one process).
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Db } from './client.js';
import { buildOnlineIndexes, type IndexReport } from './online-indexes.js';
import { backfillCounts } from './roll-up-counts.js';
import { backfillHistory, fillHistorySeries } from './roll-up-history.js';

const MAINTENANCE_LOCK = 7_270_005;

export interface MaintenanceLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

function report(log: MaintenanceLog | undefined, counted: number | null, indexes: IndexReport, ms: number, concurrently: boolean, history: number | null = null, series = false): void {
  if (!log) return;
  if (counted !== null && counted > 0) log.info({ tasks: counted }, 'task counters back-filled');
  if (history !== null && history > 0) log.info({ tasks: history }, 'task history back-filled');
  if (series) log.info({}, 'task series filled');
  if (indexes.built.length || indexes.rebuilt.length) log.info({ built: indexes.built, rebuilt: indexes.rebuilt, ms }, concurrently ? 'indexes built concurrently' : 'indexes built');
  if (indexes.dropped.length) log.info({ dropped: indexes.dropped }, 'replaced indexes dropped');
  for (const s of indexes.skipped) if (s.reason.startsWith('extension')) log.warn({ index: s.name }, `index skipped: ${s.reason} (search scans instead)`);
}

export async function maintainPglite(db: Db, log?: MaintenanceLog): Promise<void> {
  const t0 = Date.now();
  const counted = await backfillCounts(db);
  const history = await backfillHistory(db);
  const series = await fillHistorySeries(db);
  report(log, counted, await buildOnlineIndexes(db, 'pglite'), Date.now() - t0, false, history, series);
}

export interface BackgroundMaintenance {
  /** Settles when the work is done, skipped (another process has it) or failed (logged). */
  done: Promise<void>;
  /** Interrupt it (shutdown): an index build cut short is rebuilt by the next start. */
  cancel(): Promise<void>;
}

export function maintainPostgresInBackground(url: string, log?: MaintenanceLog): BackgroundMaintenance {
  // client_connection_check_interval: the server notices a closed connection during a long
  // statement (an index build) and aborts it, so that cancel() really stops the work.
  const client = postgres(url, {
    max: 1,
    onnotice: () => {},
    connect_timeout: 10,
    connection: { application_name: 'reelay maintenance', client_connection_check_interval: '1000' },
  });
  let cancelled = false;
  const done = (async () => {
    try {
      const [lock] = await client<Array<{ ok: boolean }>>`select pg_try_advisory_lock(${MAINTENANCE_LOCK}) as ok`;
      if (!lock?.ok || cancelled) return;
      const db = drizzle(client) as unknown as Db;
      const t0 = Date.now();
      const counted = await backfillCounts(db);
      if (cancelled) return;
      const history = await backfillHistory(db);
      if (cancelled) return;
      const series = await fillHistorySeries(db);
      if (cancelled) return;
      report(log, counted, await buildOnlineIndexes(db, 'postgres'), Date.now() - t0, true, history, series);
    } catch (err) {
      if (!cancelled) log?.warn({ err }, 'database maintenance failed; the next start tries again');
    } finally {
      await client.end({ timeout: 1 }).catch(() => {});
    }
  })();
  return {
    done,
    async cancel() {
      cancelled = true;
      // Closing the connection ends its session: the server aborts the statement and releases the lock.
      await client.end({ timeout: 0 }).catch(() => {});
      await done;
    },
  };
}
