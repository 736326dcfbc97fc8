// REELAY_RETENTION_DAYS, REELAY_FILE_RETENTION_DAYS, REELAY_RETENTION_INTERVAL_MS:
// off by default, positive days (fractions allowed), anything else refused with a message naming the variable.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-config-'));
const load = (env: Record<string, string>) => loadConfig(env, [], dir);

describe('retention configuration', () => {
  it('keeps everything forever by default and sweeps every 5 minutes when on', () => {
    const c = load({});
    expect(c.retentionDays).toBeUndefined();
    expect(c.fileRetentionDays).toBeUndefined();
    expect(c.retentionIntervalMs).toBe(300_000);
  });

  it('reads whole and fractional days', () => {
    expect(load({ REELAY_RETENTION_DAYS: '30', REELAY_FILE_RETENTION_DAYS: '0.25', REELAY_RETENTION_INTERVAL_MS: '60000' })).toMatchObject({
      retentionDays: 30,
      fileRetentionDays: 0.25,
      retentionIntervalMs: 60_000,
    });
    // An empty variable is unset.
    expect(load({ REELAY_RETENTION_DAYS: '' }).retentionDays).toBeUndefined();
  });

  it.each([
    ['REELAY_RETENTION_DAYS', '0', /REELAY_RETENTION_DAYS must be a positive number of days/],
    ['REELAY_RETENTION_DAYS', '-1', /REELAY_RETENTION_DAYS must be a positive number of days/],
    ['REELAY_FILE_RETENTION_DAYS', 'week', /REELAY_FILE_RETENTION_DAYS must be a number of days/],
    ['REELAY_FILE_RETENTION_DAYS', 'Infinity', /REELAY_FILE_RETENTION_DAYS must be a number of days/],
    ['REELAY_FILE_RETENTION_DAYS', '1e9', /REELAY_FILE_RETENTION_DAYS must be <= 1000000/],
    ['REELAY_RETENTION_INTERVAL_MS', '10', /REELAY_RETENTION_INTERVAL_MS must be >= 1000/],
  ])('refuses %s=%s', (name, value, message) => {
    expect(() => load({ [name]: value })).toThrow(ConfigError);
    expect(() => load({ [name]: value })).toThrow(message);
  });
});
