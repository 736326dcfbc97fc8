// Who may read GET /metrics, judged from the socket's peer address (never from
// forwarded headers) or from REELAY_METRICS_TOKEN; and the outcome labels of
// provider calls stay a small fixed set.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { upstreamOutcome } from '../../src/metrics.js';
import { compileProxyTrust, TRUST_NONE } from '../../src/net/trust-proxy.js';
import { permanentError, UpstreamError } from '../../src/providers/errors.js';
import { metricsRefusal } from '../../src/server/metrics.js';

const TOKEN = 'metrics-token-0123456789';
const req = (remoteAddress: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress }, headers: { host: '127.0.0.1:4000', ...headers } }) as unknown as IncomingMessage;

describe('metricsRefusal', () => {
  it('lets loopback peers in without a token', () => {
    for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(metricsRefusal(req(a), { trust: TRUST_NONE }), a).toBeNull();
  });

  it('refuses other peers without credentials (401), whatever X-Forwarded-For claims', () => {
    const cases: Array<Record<string, string>> = [{}, { 'x-forwarded-for': '127.0.0.1' }, { forwarded: 'for=127.0.0.1' }];
    for (const headers of cases) {
      expect(metricsRefusal(req('192.0.2.9', headers), { trust: TRUST_NONE, token: TOKEN })).toBe(401);
      expect(metricsRefusal(req('192.0.2.9', headers), { trust: TRUST_NONE })).toBe(401);
    }
  });

  it('takes the token from anywhere, compares it exactly, and answers 403 to a wrong one', () => {
    expect(metricsRefusal(req('192.0.2.9', { authorization: `Bearer ${TOKEN}` }), { trust: TRUST_NONE, token: TOKEN })).toBeNull();
    expect(metricsRefusal(req('192.0.2.9', { authorization: `bearer  ${TOKEN}` }), { trust: TRUST_NONE, token: TOKEN })).toBeNull();
    for (const auth of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, 'Bearer', `Bearer ${TOKEN} x`]) {
      expect(metricsRefusal(req('192.0.2.9', { authorization: auth }), { trust: TRUST_NONE, token: TOKEN }), auth).toBe(403);
    }
    // No token configured: a presented one opens nothing, not even from loopback.
    expect(metricsRefusal(req('192.0.2.9', { authorization: 'Bearer anything-at-all-here' }), { trust: TRUST_NONE })).toBe(403);
    expect(metricsRefusal(req('127.0.0.1', { authorization: 'Bearer wrong-wrong-wrong-wrong' }), { trust: TRUST_NONE, token: TOKEN })).toBe(403);
  });

  it('does not count a loopback peer that is a trusted proxy forwarding someone, nor a non-loopback Host (DNS rebinding)', () => {
    const trust = compileProxyTrust(['loopback']);
    expect(metricsRefusal(req('127.0.0.1', { 'x-forwarded-for': '203.0.113.5' }), { trust })).toBe(401);
    expect(metricsRefusal(req('127.0.0.1'), { trust })).toBeNull();
    expect(metricsRefusal(req('127.0.0.1', { host: 'rebound.evil.example:4000' }), { trust: TRUST_NONE })).toBe(401);
  });
});

describe('upstreamOutcome', () => {
  it('names how a provider call ended from a fixed set, never the upstream’s own code', () => {
    const e = (status: number | undefined, code: string) => new UpstreamError({ code, message: 'm', status, retryable: false, maybeCreated: false });
    expect(upstreamOutcome(e(429, 'UPSTREAM_RATE_LIMITED'))).toBe('rate_limited');
    expect(upstreamOutcome(e(502, 'whatever-they-said'))).toBe('http_5xx');
    expect(upstreamOutcome(e(404, 'their_code_123'))).toBe('http_4xx');
    expect(upstreamOutcome(e(undefined, 'UPSTREAM_TIMEOUT'))).toBe('timeout');
    expect(upstreamOutcome(e(undefined, 'UPSTREAM_MALFORMED'))).toBe('malformed');
    expect(upstreamOutcome(permanentError('CONTENT_POLICY', 'no'))).toBe('failed');
    expect(upstreamOutcome(new Error('boom'))).toBe('error');
    expect(upstreamOutcome(new Error('boom'), AbortSignal.abort())).toBe('aborted');
  });
});
