import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/db/cursor.js';
import { backoffMs } from '../../src/runner/backoff.js';
import { parseRange } from '../../src/server/files.js';

describe('cursors', () => {
  it('round-trip (createdAt, id) exactly', () => {
    const key = { createdAt: new Date('2026-11-23T12:00:00.123Z'), id: '0b7d2c5e-8f1a-4c3b-9d2e-123456789abc' };
    const c = encodeCursor(key);
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c)).toEqual(key);
  });

  it('reject anything else', () => {
    for (const bad of ['', 'garbage', Buffer.from('[1,2]').toString('base64url'), Buffer.from('["x","0b7d2c5e-8f1a-4c3b-9d2e-123456789abc"]').toString('base64url'), Buffer.from('[1,"not-a-uuid"]').toString('base64url')]) {
      expect(decodeCursor(bad)).toBeNull();
    }
  });

  it('reject keys no row can have: timestamps Postgres cannot store, fractions, oversized cursors', () => {
    const id = '0b7d2c5e-8f1a-4c3b-9d2e-123456789abc';
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const ms of [8.64e15 + 1, 8.64e15, -8.64e15, Date.parse('+010000-01-01T00:00:00Z'), Date.parse('0000-06-01T00:00:00Z'), 1.5, 1e300]) {
      expect(decodeCursor(enc([ms, id])), String(ms)).toBeNull();
    }
    expect(decodeCursor(enc([Date.parse('9999-12-31T23:59:59.999Z'), id]))).not.toBeNull();
    expect(decodeCursor(enc([Date.parse('0001-01-01T00:00:00Z'), id]))).not.toBeNull();
    expect(decodeCursor(encodeCursor({ createdAt: new Date(0), id }) + 'A'.repeat(300))).toBeNull();
  });
});

describe('Range parsing', () => {
  it('handles start-end, open ends, suffixes and bad ranges', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-1000', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBeNull();
    expect(parseRange('bytes=9-1', 100)).toBeNull();
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
  });
});

describe('backoff', () => {
  it('grows exponentially within [half, full] of the step and respects the cap', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(backoffMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(backoffMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(backoffMs(20, 1000, 60_000, () => 1)).toBe(60_000);
  });
});
