// `npm run keys` against the embedded database, and LISTEN re-sync after the
// notification connection is cut.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { cancelTaskRow } from '../../src/runner/transitions.js';
import { startTestApp } from '../support/app.js';
import { ADMIN_URL, postgresAvailable } from '../support/postgres.js';
import { subscribe, wsClient } from '../support/ws.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const hasPostgres = await postgresAvailable();

function keys(dataDir: string, ...args: string[]): string {
  return execFileSync(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, REELAY_DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' },
    encoding: 'utf8',
  });
}

describe('npm run keys', () => {
  // Several processes start one after another on PGlite: minutes on a loaded machine.
  it('creates a key that authenticates, lists it, and revokes it', { timeout: 180_000 }, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-keys-'));
    try {
      const out = keys(dataDir, 'create', 'dana');
      const key = /\n(rly_[A-Za-z0-9_-]+)/.exec(out)?.[1];
      expect(key).toBeDefined();
      expect(keys(dataDir, 'list')).toMatch(/^dana\tcreated .*\tactive\t/m);
      expect(() => keys(dataDir, 'create', 'dana')).toThrow(/active key named "dana"/);

      const t = await startTestApp({ dataDir, persistent: true, configure: (c) => (c.role = 'api') });
      try {
        expect((await t.gql('{ stats { total } }', {}, key)).status).toBe(200);
        expect((await t.gql('{ stats { total } }')).status).toBe(401);
      } finally {
        await t.stop();
      }
      expect(keys(dataDir, 'revoke', 'dana')).toMatch(/revoked key "dana"/);
      expect(keys(dataDir, 'list')).toMatch(/^dana\t.*\trevoked /m);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!hasPostgres)('LISTEN re-sync', () => {
  it('subscribers keep receiving changes after the notification connection is killed', async () => {
    const t = await startTestApp({ db: 'postgres', configure: (c) => (c.role = 'api') });
    const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
    try {
      const created = await t.gql(`mutation { createVideoTask(input: { prompt: "resync" }) { ... on CreateVideoTaskSuccess { task { id } } } }`);
      const id = created.data.createVideoTask.task.id;
      const client = wsClient(t.wsUrl);
      const sub = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status } }`, { id }, (d) => d.taskUpdated);
      await sub.waitFor((v) => v.status === 'QUEUED');
      const dbName = new URL(t.tempDb!.url).pathname.slice(1);
      const killed = await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${dbName} and query ilike 'listen%'`;
      expect(killed.length).toBeGreaterThan(0);
      // Changed while the listener is (likely) still reconnecting.
      await cancelTaskRow(t.app.services.database.db, id);
      await sub.waitFor((v) => v.status === 'CANCELLED', 20_000);
      await sub.completed;
      await client.dispose();
    } finally {
      await admin.end();
      await t.stop();
    }
  });
});
