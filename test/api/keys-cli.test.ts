// `npm run keys` against the embedded database while a server owns it: the
// command runs in that server, takes effect at once and is never lost.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startTestApp } from '../support/app.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function keys(dataDir: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, REELAY_DATA_DIR: dataDir, DATABASE_URL: '', LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
}

describe('npm run keys with the embedded database', () => {
  it('while a server runs, the command runs in it: the key works at once and survives the restart', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-keys-cli-'));
    try {
      const t = await startTestApp({ dataDir, persistent: true, configure: (c) => (c.role = 'api') });
      let key: string | undefined;
      try {
        const empty = await keys(dataDir, 'list');
        expect(empty).toMatchObject({ status: 0, stdout: expect.stringMatching(/^no API keys/) });

        const created = await keys(dataDir, 'create', 'alice');
        expect(created.status).toBe(0);
        expect(created.stderr).toMatch(/done by the running server, pid \d+/);
        key = /\n(rly_[A-Za-z0-9_-]+)\n/.exec(created.stdout)?.[1];
        expect(key).toBeDefined();
        // In effect at once: the key is accepted and the open server now requires keys.
        expect((await t.gql('{ stats { total } }', {}, key)).status).toBe(200);
        expect((await t.gql('{ stats { total } }')).status).toBe(401);
      } finally {
        await t.stop();
      }
      const again = await startTestApp({ dataDir, persistent: true, configure: (c) => (c.role = 'api') });
      try {
        expect((await again.gql('{ stats { total } }', {}, key)).status).toBe(200);
        expect((await again.gql('{ stats { total } }')).status).toBe(401);
        const twice = await keys(dataDir, 'create', 'alice');
        expect(twice).toMatchObject({ status: 1, stdout: '', stderr: expect.stringMatching(/^reelay keys: an active key named "alice" exists/) });
      } finally {
        await again.stop();
      }
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses the reserved name "anonymous"', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-keys-cli-'));
    try {
      const r = await keys(dataDir, 'create', 'anonymous');
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/"anonymous" is reserved/);
      expect(r.stdout).toBe('');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
