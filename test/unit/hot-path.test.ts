// Shortcuts on the request path must answer exactly what the long way did:
// a request's path without building a URL, cursors without JSON.stringify,
// and drizzle statements prepared only up to a bound.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it, vi } from 'vitest';
import { encodeCursor, isUuid } from '../../src/db/cursor.js';
import { newTaskId } from '../../src/db/task-id.js';
import { Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { hashKey } from '../../src/db/api-keys.js';
import { batchingDestination, createLogger, REDACT_PATHS } from '../../src/logger.js';
import { accessEntry, pathOf, yogaLogging } from '../../src/server/http.js';

const viaUrl = (url: string) => {
  try {
    return new URL(url || '/', 'http://x').pathname;
  } catch {
    return 'THROWS';
  }
};
const viaPathOf = (url: string) => {
  try {
    return pathOf(url);
  } catch {
    return 'THROWS';
  }
};

describe('pathOf', () => {
  it('answers what new URL(url, base).pathname answers for the usual and the unusual', () => {
    for (const url of ['/', '/graphql', '/graphql?x=1', '/files/a/b.mp4', '/files/../x', '/./a', '//a', '/a b', '/a%20b', '/é', '/a"b', '/a{b}', '/a\\b', '/a/', '/.hidden', '/a/..', '/a#x', '/a|b', 'http://h/x', '*', '']) {
      expect(viaPathOf(url), url).toBe(viaUrl(url));
    }
  });
  test.prop([fc.string({ unit: fc.constantFrom(...'/abc.%?#\\ éA0-_~:@!$&\'()*+,;='.split('')), maxLength: 16 })])('on random paths', (tail) => {
    expect(viaPathOf('/' + tail)).toBe(viaUrl('/' + tail));
  });
});

describe('encodeCursor', () => {
  test.prop([fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }), fc.uuid()])('is the base64url of JSON [ms, id], as before', (createdAt, id) => {
    expect(encodeCursor({ createdAt, id })).toBe(Buffer.from(JSON.stringify([createdAt.getTime(), id])).toString('base64url'));
  });
});

describe('newTaskId', () => {
  it('makes UUIDv7s that sort in the order they were made, also within one millisecond', () => {
    const now = Date.now();
    const ids = [...Array.from({ length: 5000 }, () => newTaskId(now)), newTaskId(now + 1), newTaskId(now - 5)];
    for (const id of ids) {
      expect(isUuid(id), id).toBe(true);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draws fresh random bits for every id, across refills of its random pool', () => {
    const tails = Array.from({ length: 3000 }, () => newTaskId().slice(-12));
    expect(new Set(tails).size).toBe(tails.length);
  });
});

describe('yogaLogging', () => {
  const capture = (level: string) => {
    const lines: Array<Record<string, unknown>> = [];
    const dest = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString())), cb()) });
    return { log: createLogger(level, dest), lines };
  };

  it('passes yoga lines on at the levels that are on', () => {
    const { log, lines } = capture('debug');
    const y = yogaLogging(log);
    y.debug('Processing GraphQL Parameters');
    y.warn('w', 1);
    expect(lines.map((l) => [l.level, l.yoga])).toEqual([[20, ['Processing GraphQL Parameters']], [40, ['w', 1]]]);
  });

  it('does not call the logger at all for a level that is off (yoga logs three debug lines per request)', () => {
    const { log, lines } = capture('info');
    const debug = vi.spyOn(log, 'debug');
    const y = yogaLogging(log);
    y.debug('Processing GraphQL Parameters');
    y.info('i');
    expect(debug).not.toHaveBeenCalled();
    expect(lines.map((l) => l.yoga)).toEqual([['i']]);
  });
});

describe('accessEntry', () => {
  it('has only request id, client address, method, path, status and ms: nothing a redaction path names (the access logger does not redact)', () => {
    const entry = accessEntry('r-1', '127.0.0.1', 'POST', '/graphql', 200, 1.234);
    expect(entry).toEqual({ reqId: 'r-1', ip: '127.0.0.1', method: 'POST', path: '/graphql', status: 200, ms: 1.2 });
    // Top-level names a path redacts; paths below a key (`*.apiKey`, `headers.authorization`) need an object value.
    const named = new Set(REDACT_PATHS.map((p) => p.split('.')[0]!.replace(/\[.*$/, '')));
    expect(Object.keys(entry).filter((k) => named.has(k))).toEqual([]);
    expect(Object.values(entry).filter((v) => typeof v === 'object' && v !== null)).toEqual([]);
  });
});

describe('hashKey', () => {
  test.prop([fc.string({ maxLength: 80 })])('is the hex SHA-256 of the key, as stored keys were hashed before', (key) => {
    expect(hashKey(key)).toBe(createHash('sha256').update(key).digest('hex'));
  });
});

describe('batchingDestination', () => {
  it('writes lines through, flushes once per batch after flushMs, and at once on flushSync', async () => {
    const calls: string[] = [];
    const dest = batchingDestination({ write: (l: string) => calls.push(`write ${l}`), flush: () => calls.push('flush'), flushSync: () => calls.push('flushSync') }, 20);
    dest.write('a');
    dest.write('b');
    expect(calls).toEqual(['write a', 'write b']);
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toEqual(['write a', 'write b', 'flush']);
    dest.write('c');
    dest.flushSync();
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toEqual(['write a', 'write b', 'flush', 'write c', 'flushSync']);
  });
});
