// One benchmark environment per database kind: a fresh store (in-memory PGlite
// or a temporary Postgres database, dropped on close), the real HTTP server
// (yoga + Pothos + DataLoaders) in front of it with a provider registry holding
// an instant fake provider, and helpers to seed and reset the data.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { startApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import type { Database } from '../src/db/client.js';
import { taskEvents, tasks, type TaskStatus } from '../src/db/schema.js';
import { createLogger } from '../src/logger.js';
import { ProviderRegistry } from '../src/providers/registry.js';
import type { CallContext, GenerationRequest, SubmitOutcome } from '../src/providers/types.js';
import { Runner } from '../src/runner/runner.js';
import type { Services } from '../src/services.js';
import { fakeMp4 } from '../test/emulators/media.js';
import { FakeProvider, fakeConfig } from '../test/support/fake-provider.js';
import { createTempDatabase, postgresAvailable, type TempDatabase } from '../test/support/postgres.js';

export type DbKind = 'pglite' | 'postgres';
export const OWNER = 'anonymous'; // no API keys configured: every request runs as this owner
export const PROVIDER = 'fake';
const log = createLogger('silent');

// A tiny real MP4: reelay stores only results that ffprobe reads as video.
const SMALL_MP4 = fakeMp4('bench');

/** The test FakeProvider, answering every submission at once with a finished small file. */
export class InstantProvider extends FakeProvider {
  constructor(private readonly scratch: string) {
    super(PROVIDER);
  }

  override async submit(request: GenerationRequest, ctx: CallContext): Promise<SubmitOutcome> {
    const { providerTaskId } = await super.submit(request, ctx);
    const file = path.join(this.scratch, `${request.taskId}.mp4`); // the runner moves it away when stored
    await fs.promises.writeFile(file, SMALL_MP4);
    return { providerTaskId, snapshot: { state: 'completed', result: { source: { kind: 'file', path: file }, mediaType: 'VIDEO' } } };
  }
}

export interface Bench {
  kind: DbKind;
  database: Database;
  services: Services;
  config: Config;
  url: string;
  provider: InstantProvider;
  /** POST to /graphql; throws on any GraphQL error. */
  gql<T = unknown>(query: string, variables?: Record<string, unknown>): Promise<T>;
  /** Requests sent a second time because a kept-alive socket was closed under them. */
  retries: number;
  /** Remove every task and event. */
  reset(): Promise<void>;
  /** Insert `count` tasks (createdAt 1 ms apart, oldest first) with `eventsPer` events each. */
  seed(count: number, eventsPer: number, statusOf: (i: number) => TaskStatus): Promise<void>;
  count(status: TaskStatus): Promise<number>;
  newRunner(concurrency: number): Runner;
  close(): Promise<void>;
}

function isStaleSocket(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string; message?: string } } | null)?.cause;
  return err instanceof TypeError && (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(cause?.code ?? '') || /other side closed/i.test(cause?.message ?? ''));
}

export async function postgresAnswers(): Promise<boolean> {
  const origWarn = console.warn;
  console.warn = () => {}; // the helper prints a test-oriented skip message; run.ts prints its own
  try {
    return await postgresAvailable();
  } finally {
    console.warn = origWarn;
  }
}

export async function openBench(kind: DbKind): Promise<Bench> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-bench-'));
  const scratch = path.join(dataDir, 'upstream');
  fs.mkdirSync(scratch, { recursive: true });
  let temp: TempDatabase | undefined;
  // REELAY_BENCH_DATABASE_URL: an existing database (one kept by REELAY_BENCH_KEEP_DB, to profile reads of it).
  const existing = kind === 'postgres' ? process.env.REELAY_BENCH_DATABASE_URL : undefined;
  if (kind === 'postgres' && !existing) temp = await createTempDatabase();
  // One client creates hundreds of tasks a minute here: the per-key limits are off.
  const env = { PORT: '0', HOST: '127.0.0.1', REELAY_DATA_DIR: dataDir, LOG_LEVEL: 'silent', REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '0' };
  const databaseUrl = existing ?? temp?.url;
  const config = loadConfig({ ...env, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) }, [], dataDir);
  const providerConfig = fakeConfig(PROVIDER, { maxConcurrency: 1000 });
  config.providers = [providerConfig];
  config.defaultProvider = PROVIDER;
  config.role = 'api';
  fs.mkdirSync(config.filesDir, { recursive: true });

  const provider = new InstantProvider(scratch);
  const registry = ProviderRegistry.of([{ config: providerConfig, provider }]);
  const app = await startApp(config, { log, inMemoryDb: !databaseUrl, registry });
  await app.services.database.maintenance; // index builds in the background would race reset()'s TRUNCATE
  const { services } = app;
  const { database, events, health } = services;
  const url = `${app.url!}/graphql`;
  const db = database.db;

  const bench: Bench = {
    kind,
    database,
    services,
    config,
    url,
    provider,
    retries: 0,
    async gql<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
      const send = () =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
          body: JSON.stringify({ query, variables }),
        });
      let res: Response;
      try {
        res = await send();
      } catch (err) {
        // A kept-alive socket the server closed just as it was reused: send once
        // more on a new one (safe: queries, and mutations carry an idempotency key).
        if (!isStaleSocket(err)) throw err;
        bench.retries++;
        res = await send();
      }
      const body = (await res.json()) as { data?: T; errors?: Array<{ message: string }> };
      if (!res.ok || body.errors?.length || !body.data) throw new Error(`GraphQL request failed (${res.status}): ${JSON.stringify(body.errors ?? body)}`);
      return body.data;
    },
    async reset() {
      await db.execute(sql`truncate table ${taskEvents}, ${tasks} cascade`);
      fs.rmSync(config.filesDir, { recursive: true, force: true });
      fs.mkdirSync(config.filesDir, { recursive: true });
    },
    async seed(count, eventsPer, statusOf) {
      const base = Date.now() - count - 60_000;
      const CHUNK = 500;
      for (let from = 0; from < count; from += CHUNK) {
        const rows = [];
        for (let i = from; i < Math.min(count, from + CHUNK); i++) {
          const status = statusOf(i);
          const at = new Date(base + i);
          rows.push({ owner: OWNER, providerId: PROVIDER, prompt: `bench task ${i}`, status, createdAt: at, updatedAt: at, nextPollAt: at });
        }
        const inserted = await db.insert(tasks).values(rows).returning({ id: tasks.id, status: tasks.status, createdAt: tasks.createdAt });
        if (!eventsPer) continue;
        const evs = inserted.flatMap((t) =>
          Array.from({ length: eventsPer }, (_, k) => ({ taskId: t.id, status: k === 0 ? ('QUEUED' as const) : t.status, progress: k / eventsPer, message: `event ${k}`, at: new Date(t.createdAt.getTime() + k) })),
        );
        await db.insert(taskEvents).values(evs);
      }
      await db.execute(sql`analyze`);
    },
    async count(status) {
      const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(tasks).where(sql`${tasks.status} = ${status}`);
      return Number(row?.n ?? 0);
    },
    newRunner(concurrency) {
      return new Runner({ db, events, registry, health, filesDir: config.filesDir, log, leaseMs: config.leaseMs, concurrency, maxAttempts: config.maxAttempts, idleMs: 200 });
    },
    async close() {
      await app.stop().catch(() => {});
      // REELAY_BENCH_KEEP_DB=1 keeps the database for profiling the same data afterwards (drop it yourself).
      if (temp && process.env.REELAY_BENCH_KEEP_DB === '1') console.warn(`kept the database ${temp.url}`);
      else await temp?.drop().catch((err) => console.warn(`could not drop ${temp?.url}: ${(err as Error).message}`));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return bench;
}
