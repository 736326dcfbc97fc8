// A database + event bus for tests below the HTTP layer, on PGlite or Postgres.
import { openDatabase, type Database } from '../../src/db/client.js';
import { createTask } from '../../src/db/create-task.js';
import { getTasksByIds } from '../../src/db/read-tasks.js';
import type { TaskRow } from '../../src/db/schema.js';
import { TaskEvents } from '../../src/events/bus.js';
import { createTempDatabase, type TempDatabase } from './postgres.js';

export interface TestStore {
  database: Database;
  events: TaskEvents;
  url?: string;
  addTask(over?: Partial<Parameters<typeof createTask>[1]>): Promise<TaskRow>;
  get(id: string): Promise<TaskRow>;
  /** Resolves when the task's row satisfies `pred` (checked on every change notification). */
  waitFor(id: string, pred: (t: TaskRow) => boolean, timeoutMs?: number): Promise<TaskRow>;
  close(): Promise<void>;
}

export async function openTestStore(kind: 'pglite' | 'postgres'): Promise<TestStore> {
  let temp: TempDatabase | undefined;
  if (kind === 'postgres') temp = await createTempDatabase();
  const database = await openDatabase({ databaseUrl: temp?.url });
  await database.maintenance; // settled: the background back-fill and index builds would race a test's own writes

  const events = new TaskEvents(database);
  await events.start();
  const get = async (id: string) => (await getTasksByIds(database.db, [id]))[0]!;
  return {
    database,
    events,
    url: temp?.url,
    async addTask(over = {}) {
      const { task } = await createTask(database.db, { owner: 'tester', providerId: 'fake', prompt: 'a test prompt', ...over });
      return task;
    },
    get,
    waitFor(id, pred, timeoutMs = 20_000) {
      return new Promise<TaskRow>((resolve, reject) => {
        let done = false;
        const check = async () => {
          if (done) return;
          const row = await get(id);
          if (row && pred(row) && !done) {
            done = true;
            off();
            clearTimeout(timer);
            clearInterval(tick);
            resolve(row);
          }
        };
        const off = events.onTask((tid) => tid === id && void check());
        // Lease expiry changes no row by itself; re-check now and then as well.
        const tick = setInterval(() => void check(), 250);
        const timer = setTimeout(async () => {
          done = true;
          off();
          clearInterval(tick);
          reject(new Error(`task ${id} did not reach the expected state; last: ${JSON.stringify(await get(id))}`));
        }, timeoutMs);
        void check();
      });
    },
    async close() {
      await events.close();
      await database.close();
      await temp?.drop().catch(() => {});
    },
  };
}
