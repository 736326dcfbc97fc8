// GraphiQL works with no internet access: the page reelay serves loads
// nothing from another host.
import { describe, expect, it } from 'vitest';
import { startTestApp } from '../support/app.js';

/** Anything a browser would fetch from an absolute or protocol-relative URL: attributes, CSS, fetch/import/workers/sockets. */
const EXTERNAL_LOAD =
  /(?:\b(?:src|href|action|srcset)\s*=\s*["']?|@import\s+(?:url\()?\s*["']?|url\(\s*["']?|\bfetch\(\s*["'`]|\bimport\(\s*["'`]|new (?:Worker|SharedWorker|WebSocket|EventSource)\(\s*["'`])((?:https?:|wss?:)?\/\/[^"'`)\s>]*)/gi;

describe('GraphiQL', () => {
  it('is served whole by reelay: no script, style, font or worker from another host', async () => {
    const t = await startTestApp({ configure: (c) => (c.role = 'api') });
    try {
      const res = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('<title>reelay</title>');
      // Our tabs and the WebSocket transport are in the page's options.
      expect(html).toContain('mutation Create');
      expect(html).toContain('"subscriptionsProtocol":"WS"');
      // The bundled GraphiQL itself is inline.
      expect(html).toContain('renderYogaGraphiQL');
      expect([...html.matchAll(EXTERNAL_LOAD)].map((m) => m[0])).toEqual([]);
      expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs|fonts\.googleapis/);
    } finally {
      await t.stop();
    }
  });
});
