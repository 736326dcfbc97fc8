import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseApiKeys, parseCorsOrigins, parseRole } from '../../src/config.js';

function withFile(content: unknown): { dir: string; file: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-config-'));
  const file = path.join(dir, 'reelay.config.json');
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return { dir, file };
}

const err = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('defaults to one local provider on 127.0.0.1:4000 with ./data', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-config-'));
    const c = loadConfig({}, [], dir);
    expect(c).toMatchObject({ port: 4000, host: '127.0.0.1', role: 'all', defaultProvider: 'local', dataDir: path.join(dir, 'data'), filesDir: path.join(dir, 'data', 'files'), leaseMs: 30_000, apiKeys: [] });
    expect(c.providers).toEqual([expect.objectContaining({ id: 'local', kind: 'local', maxConcurrency: 4, timeoutMs: 600_000 })]);
    expect(c.databaseUrl).toBeUndefined();
  });

  it('reads ./reelay.config.json when present and REELAY_CONFIG otherwise', () => {
    const { dir, file } = withFile({ providers: [{ id: 'a', kind: 'tasks-api', baseUrl: 'http://127.0.0.1:9000', maxConcurrency: 2, pollIntervalMs: 500 }, { id: 'b', kind: 'local' }], defaultProvider: 'b' });
    const c = loadConfig({}, [], dir);
    expect(c.defaultProvider).toBe('b');
    expect(c.providers[0]).toMatchObject({ id: 'a', kind: 'tasks-api', maxConcurrency: 2, pollIntervalMs: 500, fallback: [] });
    const c2 = loadConfig({ REELAY_CONFIG: file }, [], os.tmpdir());
    expect(c2.providers).toHaveLength(2);
  });

  it('names the offending field for unknown kinds, bad URLs and missing fields', () => {
    expect(err(() => loadConfig({}, [], withFile({ providers: [{ id: 'x', kind: 'warp-drive' }] }).dir))).toMatch(/providers\[0\]\.kind: unknown kind "warp-drive"/);
    expect(err(() => loadConfig({}, [], withFile({ providers: [{ id: 'x', kind: 'sora-ui', baseUrl: 'not a url' }] }).dir))).toMatch(/providers\[0\]\.baseUrl/);
    expect(err(() => loadConfig({}, [], withFile({ providers: [{ id: 'x', kind: 'lightx2v' }] }).dir))).toMatch(/providers\[0\]\.baseUrl: is required for kind "lightx2v"/);
    expect(err(() => loadConfig({}, [], withFile({ providers: [{ kind: 'local' }] }).dir))).toMatch(/providers\[0\]\.id/);
    expect(err(() => loadConfig({}, [], withFile({ providers: [{ id: 'x', kind: 'local', maxConcurency: 3 }] }).dir))).toMatch(/maxConcurency/);
    expect(err(() => loadConfig({}, [], withFile({ providers: [{ id: 'x', kind: 'local' }], defaultProvider: 'y' }).dir))).toMatch(/defaultProvider: unknown provider "y"/);
    expect(err(() => loadConfig({}, [], withFile({ providers: [{ id: 'x', kind: 'local' }, { id: 'x', kind: 'local' }] }).dir))).toMatch(/duplicate provider id "x"/);
    expect(err(() => loadConfig({}, [], withFile('{ nope').dir))).toMatch(/not valid JSON/);
    expect(err(() => loadConfig({ REELAY_CONFIG: '/nonexistent/reelay.json' }, [], os.tmpdir()))).toMatch(/cannot read config file/);
  });

  it('validates the environment', () => {
    expect(err(() => loadConfig({ PORT: 'abc' }, [], os.tmpdir()))).toMatch(/PORT/);
    expect(err(() => loadConfig({ DATABASE_URL: 'mysql://x' }, [], os.tmpdir()))).toMatch(/DATABASE_URL must start with postgres/);
    expect(loadConfig({ PORT: '5001', REELAY_LEASE_MS: '2000' }, [], os.tmpdir())).toMatchObject({ port: 5001, leaseMs: 2000 });
  });

  it('per-key limits: 100 active and 120 creates per minute by default, 0 turns them off', () => {
    expect(loadConfig({}, [], os.tmpdir())).toMatchObject({ maxActiveTasksPerKey: 100, createsPerMinutePerKey: 120 });
    expect(loadConfig({ REELAY_MAX_ACTIVE_TASKS_PER_KEY: '0', REELAY_CREATES_PER_MINUTE_PER_KEY: '0' }, [], os.tmpdir())).toMatchObject({ maxActiveTasksPerKey: 0, createsPerMinutePerKey: 0 });
    expect(err(() => loadConfig({ REELAY_MAX_ACTIVE_TASKS_PER_KEY: '-1' }, [], os.tmpdir()))).toMatch(/REELAY_MAX_ACTIVE_TASKS_PER_KEY must be >= 0/);
    expect(err(() => loadConfig({ REELAY_CREATES_PER_MINUTE_PER_KEY: 'many' }, [], os.tmpdir()))).toMatch(/REELAY_CREATES_PER_MINUTE_PER_KEY must be a number/);
  });

  it('reads the media limits: result bytes, image pixels, render stall', () => {
    expect(loadConfig({}, [], os.tmpdir())).toMatchObject({ maxResultBytes: 2 * 1024 ** 3, maxImagePixels: 40_000_000, renderStallMs: 30_000 });
    expect(loadConfig({ REELAY_MAX_RESULT_BYTES: '5000000', REELAY_MAX_IMAGE_PIXELS: '1000000', REELAY_RENDER_STALL_MS: '500' }, [], os.tmpdir())).toMatchObject({ maxResultBytes: 5_000_000, maxImagePixels: 1_000_000, renderStallMs: 500 });
    expect(err(() => loadConfig({ REELAY_MAX_IMAGE_PIXELS: 'many' }, [], os.tmpdir()))).toMatch(/REELAY_MAX_IMAGE_PIXELS must be a number/);
    expect(err(() => loadConfig({ REELAY_RENDER_STALL_MS: '5' }, [], os.tmpdir()))).toMatch(/REELAY_RENDER_STALL_MS must be >= 100/);
    expect(loadConfig({}, [], os.tmpdir()).imageCheckWaitMs).toBe(10_000);
    expect(loadConfig({ REELAY_IMAGE_CHECK_WAIT_MS: '2500' }, [], os.tmpdir()).imageCheckWaitMs).toBe(2500);
    expect(err(() => loadConfig({ REELAY_IMAGE_CHECK_WAIT_MS: '0' }, [], os.tmpdir()))).toMatch(/REELAY_IMAGE_CHECK_WAIT_MS must be >= 1/);
  });

  it('split roles need DATABASE_URL', () => {
    expect(parseRole(['--role', 'api'])).toBe('api');
    expect(parseRole(['--role=runner'])).toBe('runner');
    expect(parseRole([])).toBe('all');
    expect(err(() => parseRole(['--role', 'boss']))).toMatch(/--role must be one of/);
    expect(err(() => loadConfig({}, ['--role', 'runner'], os.tmpdir()))).toMatch(/needs DATABASE_URL/);
    expect(loadConfig({ DATABASE_URL: 'postgres://x@localhost/db' }, ['--role', 'runner'], os.tmpdir()).role).toBe('runner');
  });

  it('parses REELAY_API_KEYS', () => {
    expect(parseApiKeys('alice:secret-123, bob:other-key-9')).toEqual([{ name: 'alice', key: 'secret-123' }, { name: 'bob', key: 'other-key-9' }]);
    expect(parseApiKeys('')).toEqual([]);
    expect(err(() => parseApiKeys('alice'))).toMatch(/name:key/);
    expect(err(() => parseApiKeys('alice:'))).toMatch(/name:key/);
    expect(parseApiKeys('a:b:c')).toEqual([{ name: 'a', key: 'b:c' }]);
    expect(err(() => parseApiKeys('ops:k1,anonymous:k2'))).toMatch(/entry 2: "anonymous" is reserved/);
    // One key value for two names: whose tasks would it see? Refused, without printing the key.
    const ambiguous = err(() => parseApiKeys('a:k1,b:k2,c:k1'));
    expect(ambiguous).toMatch(/^invalid configuration in REELAY_API_KEYS: entries 1 \("a"\) and 3 \("c"\) have the same key; a key must belong to one owner$/);
    expect(ambiguous).not.toContain('k1');
    expect(err(() => loadConfig({ REELAY_API_KEYS: 'a:k1,b:k1' }, [], os.tmpdir()))).toMatch(/entries 1 \("a"\) and 2 \("b"\) have the same key/);
    // The same entry twice is harmless; so are short keys.
    expect(parseApiKeys('a:k1,a:k1,b:k')).toHaveLength(3);
  });

  it('parses REELAY_CORS_ORIGINS into origins and refuses wildcards and paths', () => {
    expect(loadConfig({}, [], os.tmpdir()).corsOrigins).toEqual([]);
    expect(loadConfig({ REELAY_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173/,https://x.example:443' }, [], os.tmpdir()).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
      'https://x.example',
    ]);
    for (const bad of ['*', 'https://*.example.com', 'https://app.example.com/path', 'app.example.com', 'ftp://app.example.com', 'https://u:p@app.example.com']) {
      expect(err(() => parseCorsOrigins(bad)), bad).toMatch(/REELAY_CORS_ORIGINS/);
    }
  });

  it('keeps API keys out of error messages', () => {
    const msg = err(() => loadConfig({}, [], withFile({ providers: [{ id: 'x', kind: 'sora-ui', apiKey: 'sk-SECRET-VALUE', baseUrl: 'nope' }] }).dir));
    expect(msg).not.toContain('sk-SECRET-VALUE');
  });
});
