// Pricing: the config's `pricing` (validated), the price of a completed task
// (perVideo + perSecond × seconds; the result's seconds, else the requested
// ones; perModel replaces the provider's price), and the keys CLI's spend cap flag.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { parseKeysArgs } from '../../src/keys/commands.js';
import { priceTask } from '../../src/tasks/price.js';

function configWith(pricing: unknown) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-pricing-'));
  fs.writeFileSync(path.join(dir, 'reelay.config.json'), JSON.stringify({ providers: [{ id: 'local', kind: 'local', pricing }] }));
  return () => loadConfig({}, [], dir);
}

describe('pricing', () => {
  const pricing = { currency: 'USD', perVideo: 0.5, perSecond: 0.1, perModel: { pro: { perSecond: 0.3 }, flat: { perVideo: 1 } } };

  it('prices perVideo + perSecond × the result\'s seconds, else the requested ones, else none', () => {
    expect(priceTask(pricing, null, 4, 10)).toEqual({ amount: 0.9, currency: 'USD' });
    expect(priceTask(pricing, 'std', null, 10)).toEqual({ amount: 1.5, currency: 'USD' });
    expect(priceTask(pricing, null, undefined, undefined)).toEqual({ amount: 0.5, currency: 'USD' });
    expect(priceTask(undefined, null, 4, 10)).toBeNull();
    // A millionth at most: no 0.30000000000000004.
    expect(priceTask({ currency: 'EUR', perSecond: 0.1 }, null, 3, null)).toEqual({ amount: 0.3, currency: 'EUR' });
  });

  it('a model\'s own price replaces the provider\'s', () => {
    expect(priceTask(pricing, 'pro', 10, null)).toEqual({ amount: 3, currency: 'USD' });
    expect(priceTask(pricing, 'flat', 10, null)).toEqual({ amount: 1, currency: 'USD' });
    expect(priceTask(pricing, 'constructor', 10, null)).toEqual({ amount: 1.5, currency: 'USD' });
  });

  it('is validated in the config: non-negative numbers, a 3-letter currency, no unknown fields', () => {
    expect(configWith(pricing)().providers[0]!.pricing).toEqual(pricing);
    const refused = (p: unknown, message: RegExp) => {
      expect(configWith(p)).toThrow(ConfigError);
      expect(configWith(p)).toThrow(message);
    };
    refused({ currency: 'usd', perVideo: 1 }, /providers\[0\]\.pricing\.currency: must be a 3-letter currency code/);
    refused({ perVideo: 1 }, /pricing\.currency/);
    refused({ currency: 'USD', perSecond: -1 }, /pricing\.perSecond: must be a number >= 0/);
    refused({ currency: 'USD', perModel: { pro: { perVideo: -2 } } }, /pricing\.perModel\.pro\.perVideo/);
    refused({ currency: 'USD', perMinute: 2 }, /pricing/);
  });

  it('keys create --max-spend-per-day takes an amount', () => {
    expect(parseKeysArgs(['create', 'alice', '--max-spend-per-day', '20'])).toMatchObject({ command: 'create', name: 'alice', options: { maxSpendPerDay: 20 } });
    expect(parseKeysArgs(['create', 'alice', '--max-spend-per-day', '7.5'])).toMatchObject({ options: { maxSpendPerDay: 7.5 } });
    expect(parseKeysArgs(['create', 'alice'])).toMatchObject({ options: { maxSpendPerDay: undefined } });
    expect(() => parseKeysArgs(['create', 'alice', '--max-spend-per-day=-1'])).toThrow(/--max-spend-per-day must be an amount >= 0/);
    expect(() => parseKeysArgs(['create', 'alice', '--max-spend-per-day', 'lots'])).toThrow(/--max-spend-per-day/);
  });
});
