// What a page on another site can do with reelay over HTTP: CORS only for the
// origins in REELAY_CORS_ORIGINS, and no state change through a request a
// browser sends without a preflight.
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { Plugin, YogaInitialContext } from 'graphql-yoga';
import { isListedOrigin, type OriginPolicy } from './request-policy.js';

/** Either header marks a POST as sent by a script (browsers preflight it cross-site). */
export const CSRF_HEADERS = ['x-graphql-yoga-csrf', 'apollo-require-preflight'];

/**
 * yoga's `cors` option: listed origins get CORS headers with credentials; any other
 * origin gets none, so its scripts cannot read answers. Same-origin pages need none.
 */
export function corsFor(config: OriginPolicy) {
  return (request: Request) => {
    const origin = request.headers.get('origin');
    if (!isListedOrigin(config, origin)) return false as const;
    return { origin: [new URL(origin!).origin], credentials: true, methods: ['GET', 'POST', 'OPTIONS'], maxAge: 600 };
  };
}

/**
 * yoga's CSRF prevention: form-urlencoded, multipart and text/plain POSTs (and POSTs
 * without a content type) must carry one of CSRF_HEADERS. GET stays open: yoga runs
 * no mutation over GET and a cross-site page cannot read the answer.
 */
export function csrfPrevention(): Plugin<YogaInitialContext> {
  const plugin = useCSRFPrevention({ requestHeaders: CSRF_HEADERS });
  return {
    onRequestParse(payload) {
      if (payload.request.method === 'GET' || payload.request.method === 'HEAD') return;
      return plugin.onRequestParse?.(payload);
    },
  };
}
