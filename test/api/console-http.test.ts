// The web console as HTTP: its page and assets with the right types, caching
// and Content-Security-Policy, without shadowing any other path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { consolePolicy, serveConsole } from '../../src/server/console.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { ensureConsoleBuilt } from '../support/browser.js';
import { postgresAvailable } from '../support/postgres.js';

describe('web console over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    ensureConsoleBuilt();
    t = await startTestApp({ db: (await postgresAvailable()) ? 'postgres' : 'pglite', configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('serves the page at / uncached, under a self-only policy', async () => {
    const res = await fetch(`${t.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const csp = res.headers.get('content-security-policy')!;
    const host = new URL(t.url).host;
    expect(csp.split('; ')).toEqual(
      expect.arrayContaining([
        "default-src 'self'",
        "object-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        `connect-src 'self' ws://${host} wss://${host}`,
        "frame-ancestors 'none'",
        "base-uri 'none'",
      ]),
    );
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const html = await res.text();
    expect(html).toContain('<div id="app">');
    // Nothing inline for the policy to refuse, nothing from another host.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\b(?:src|href)="(?:https?:)?\/\//);
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const a of assets) {
      const r = await fetch(`${t.url}${a}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe(a.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      const body = await r.text();
      expect(body).not.toMatch(/(?:https?:)?\/\/(?:unpkg|cdn|fonts\.googleapis)/);
    }
    const head = await fetch(`${t.url}${assets[0]}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
  });

  it('answers unknown assets, odd names and other methods without leaking files', async () => {
    for (const p of ['/assets/nope.js', '/assets/..%2Fpackage.json', '/assets/.source-hash', '/assets/', '/assets/x.html']) {
      const r = await fetch(`${t.url}${p}`);
      expect(r.status, p).toBe(404);
      expect(r.headers.get('cache-control')).toBe('no-store');
    }
    const post = await fetch(`${t.url}/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('leaves /graphql, /health, /files/ and the CSRF rule as they were', async () => {
    const graphiql = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toContain('renderYogaGraphiQL');
    const health = await fetch(`${t.url}/health`);
    expect(health.headers.get('content-type')).toBe('application/json');
    expect((await fetch(`${t.url}/files/00000000-0000-0000-0000-000000000000/result.mp4`)).status).toBe(404);
    const q = await t.gql('{ providers { id } }');
    expect(q.data.providers[0].id).toBe('local');
    // A multipart POST without the CSRF header is still refused.
    const form = new FormData();
    form.append('operations', JSON.stringify({ query: '{ providers { id } }' }));
    form.append('map', '{}');
    expect((await fetch(`${t.url}/graphql`, { method: 'POST', body: form })).status).toBe(403);
  });
});

describe('web console without a build', () => {
  it('says how to build it, and keeps the policy', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-console-'));
    try {
      const headers: Record<string, unknown> = {};
      let status = 0;
      let body = '';
      const res = {
        setHeader: (k: string, v: unknown) => void (headers[k] = v),
        writeHead: (s: number, h: Record<string, unknown>) => ((status = s), Object.assign(headers, h)),
        end: (b?: Buffer) => void (body = b?.toString() ?? ''),
      } as unknown as ServerResponse;
      await serveConsole({ method: 'GET', headers: { host: 'localhost:4000' } } as IncomingMessage, res, '/', { dir });
      expect(status).toBe(503);
      expect(body).toContain('npm run build');
      expect(headers['content-security-policy']).toBe(consolePolicy('localhost:4000', undefined));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the public URL and never repeats a strange Host', () => {
    expect(consolePolicy('evil.example\r\nx: y', 'https://video.example.com')).toContain("connect-src 'self' https://video.example.com ws://video.example.com wss://video.example.com");
    expect(consolePolicy('evil.example\r\nx: y', undefined)).not.toContain('evil');
    expect(consolePolicy('[::1]:4000', undefined)).toContain('ws://[::1]:4000');
  });
});
