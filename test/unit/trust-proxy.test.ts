// REELAY_TRUST_PROXY: which X-Forwarded-* headers count, and the client address
// they give (the rightmost hop that is not a trusted proxy).
import os from 'node:os';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { clientAddress, compileProxyTrust, parseTrustProxyList, TRUST_NONE } from '../../src/net/trust-proxy.js';
import { requestInfo, requestOrigin } from '../../src/server/request-info.js';

const fakeReq = (remoteAddress: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;

describe('REELAY_TRUST_PROXY', () => {
  it('is off by default and accepts addresses, CIDR ranges and named ranges', () => {
    expect(loadConfig({}, [], os.tmpdir()).trustProxy).toEqual([]);
    expect(loadConfig({ REELAY_TRUST_PROXY: '10.0.0.0/8, 192.0.2.7,::1, loopback ,fd00::/8' }, [], os.tmpdir()).trustProxy).toEqual(['10.0.0.0/8', '192.0.2.7', '::1', 'loopback', 'fd00::/8']);
  });

  it('refuses anything else with one line naming the variable and the entry', () => {
    for (const bad of ['*', 'true', 'proxy.example.com', '10.0.0.0/33', '127.1', '10.0.0.1,nope']) {
      let message = '';
      try {
        loadConfig({ REELAY_TRUST_PROXY: bad }, [], os.tmpdir());
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        message = (e as Error).message;
      }
      expect(message, bad).toMatch(/^invalid configuration in REELAY_TRUST_PROXY: ".+" is not an IP address/);
      expect(message).not.toContain('\n');
    }
  });

  it('trusts exactly the listed peers (IPv4-mapped IPv6 included)', () => {
    const trust = compileProxyTrust(parseTrustProxyList('10.1.0.0/16,loopback,2001:db8::1'));
    for (const a of ['10.1.2.3', '::ffff:10.1.2.3', '127.0.0.1', '127.9.9.9', '::1', '2001:db8::1']) expect(trust(a), a).toBe(true);
    for (const a of ['10.2.0.1', '192.0.2.1', '2001:db8::2', '', 'junk', '0x7f.0.0.1']) expect(trust(a), a).toBe(false);
  });
});

describe('clientAddress', () => {
  const trust = compileProxyTrust(['10.0.0.0/8']);

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(clientAddress('203.0.113.9', '6.6.6.6', trust)).toBe('203.0.113.9');
    expect(clientAddress('::ffff:127.0.0.1', '6.6.6.6', TRUST_NONE)).toBe('127.0.0.1');
  });

  it('takes the rightmost hop that is not a trusted proxy, whatever the client wrote to its left', () => {
    expect(clientAddress('10.0.0.2', '6.6.6.6, 203.0.113.9', trust)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.2', '6.6.6.6, 203.0.113.9, 10.0.0.3', trust)).toBe('203.0.113.9');
    expect(clientAddress('10.0.0.2', '203.0.113.9', trust)).toBe('203.0.113.9');
    // A client that claims to be a proxy itself gets no further.
    expect(clientAddress('10.0.0.2', '6.6.6.6, 10.9.9.9', trust)).toBe('6.6.6.6');
    // A malformed hop stops the walk at the last address known.
    expect(clientAddress('10.0.0.2', 'evil, 10.0.0.5', trust)).toBe('10.0.0.5');
    expect(clientAddress('10.0.0.2', '   ', trust)).toBe('10.0.0.2');
  });
});

describe('requestInfo', () => {
  const trust = compileProxyTrust(['loopback']);
  const hostile = { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-request-id': 'chosen-by-client', host: '127.0.0.1:4000' };

  it('from an untrusted peer: forwarded headers and incoming request ids are ignored', () => {
    const req = fakeReq('192.0.2.50', hostile);
    const info = requestInfo(req, trust);
    expect(info).toMatchObject({ client: '192.0.2.50', viaProxy: false });
    expect(info.forwardedHost).toBeUndefined();
    expect(info.forwardedProto).toBeUndefined();
    expect(info.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestOrigin(req, info, 'x')).toBe('http://127.0.0.1:4000');
  });

  it('from a trusted proxy: its headers count, the last value of each (what the proxy wrote)', () => {
    const req = fakeReq('127.0.0.1', { ...hostile, 'x-forwarded-for': '6.6.6.6, 198.51.100.4', 'x-forwarded-host': 'evil.example, reelay.example.com', 'x-forwarded-proto': 'http, https' });
    const info = requestInfo(req, trust);
    expect(info).toMatchObject({ id: 'chosen-by-client', client: '198.51.100.4', viaProxy: true, forwardedHost: 'reelay.example.com', forwardedProto: 'https' });
    expect(requestOrigin(req, info, 'x')).toBe('https://reelay.example.com');
  });

  it('refuses malformed values even from a trusted proxy', () => {
    const info = requestInfo(fakeReq('127.0.0.1', { 'x-request-id': 'a b\u0007', 'x-forwarded-host': 'evil.example/path@x', 'x-forwarded-proto': 'javascript' }), trust);
    expect(info.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(info.forwardedHost).toBeUndefined();
    expect(info.forwardedProto).toBeUndefined();
  });
});
