// GET/HEAD /files/<taskId>/poster.jpg: made on first request (storage/posters.ts)
// before the ordinary file serving answers it with its Range, HEAD and caching.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { POSTER_NAME, type PosterStore } from '../storage/posters.js';
import type { Refusal } from './refuse.js';

const POSTER_PATH = new RegExp(`^/files/([0-9a-f-]{36})/${POSTER_NAME.replace('.', '\\.')}$`);

/** Make the poster a request asks for; a refusal when there is none (404) or no slot freed up (503). Other paths: null. */
export async function posterRefusal(posters: PosterStore, req: IncomingMessage, res: ServerResponse, pathname: string): Promise<Refusal | null> {
  const m = POSTER_PATH.exec(pathname);
  if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) return null;
  const outcome = await posters.ensure(m[1]!);
  if (outcome.kind === 'ready') return null;
  if (outcome.kind === 'busy') {
    res.setHeader('retry-after', String(outcome.retryAfterSeconds));
    return { status: 503, code: 'POSTER_BUSY', message: 'too many posters are being made at once; try again shortly' };
  }
  return { status: 404, code: 'POSTER_UNAVAILABLE', message: outcome.message };
}
