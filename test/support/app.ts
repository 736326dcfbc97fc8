// Starts the real server (API + runner) on a random port for a test.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp, type App } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTempDatabase, type TempDatabase } from './postgres.js';

export interface TestApp {
  app: App;
  config: Config;
  url: string;
  wsUrl: string;
  dataDir: string;
  tempDb?: TempDatabase;
  /** Database queries issued so far (through Drizzle). */
  queries: string[];
  /** POST a GraphQL operation; returns the parsed body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, key?: string): Promise<{ data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }>; status: number }>;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  db?: 'pglite' | 'postgres';
  /** Reuse an existing database URL (several processes on one Postgres). */
  databaseUrl?: string;
  env?: Record<string, string>;
  providers?: unknown[];
  defaultProvider?: string;
  argv?: string[];
  dataDir?: string;
  /** Receive the server's log lines (at debug level) instead of silence. */
  logSink?: (line: string) => void;
  /** Keep the embedded database on disk under dataDir (as `npm start` does) instead of in memory. */
  persistent?: boolean;
  /** Adjust the loaded config, e.g. `role: 'api'` to run without a runner. */
  configure?: (config: Config) => void;
  /** How long an idle runner waits before it looks for work again (default 200 ms). */
  runnerIdleMs?: number;
}

export async function startTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-test-'));
  let tempDb: TempDatabase | undefined;
  let databaseUrl = opts.databaseUrl;
  if (!databaseUrl && opts.db === 'postgres') {
    tempDb = await createTempDatabase();
    databaseUrl = tempDb.url;
  }
  const env: Record<string, string> = { PORT: '0', HOST: '127.0.0.1', REELAY_DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...opts.env };
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  if (opts.providers) {
    const file = path.join(dataDir, 'reelay.config.json');
    fs.writeFileSync(file, JSON.stringify({ providers: opts.providers, defaultProvider: opts.defaultProvider }));
    env.REELAY_CONFIG = file;
  }
  const config = loadConfig(env, opts.argv ?? [], dataDir);
  opts.configure?.(config);
  const queries: string[] = [];
  const app = await startApp(config, {
    log: opts.logSink ? createLogger('debug', { write: (line: string) => opts.logSink!(line) }) : createLogger(process.env.REELAY_TEST_LOG ?? 'silent'),
    inMemoryDb: !databaseUrl && !opts.persistent,
    runnerIdleMs: opts.runnerIdleMs ?? 200,
    queryLogger: { logQuery: (q) => void queries.push(q) },
  });
  // Tests start from a settled database: the background index builds (Postgres) would otherwise race their TRUNCATEs.
  await app.services.database.maintenance;
  const url = app.url!;
  return {
    app,
    config,
    url,
    wsUrl: url.replace(/^http/, 'ws') + '/graphql',
    dataDir,
    tempDb,
    queries,
    async gql(query, variables, key) {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: any; errors?: any };
      return { ...body, status: res.status };
    },
    async stop() {
      await app.stop();
      await tempDb?.drop().catch(() => {});
      if (!opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
