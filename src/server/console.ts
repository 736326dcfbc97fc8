// The web console: its page at `/` and its hashed assets under `/assets/`,
// built from console/ by scripts/build-console.mjs into console/dist/. The page
// is never cached (a new build takes effect at once), the assets are cached for
// a year (their names change with their content), and the page may load and
// connect to nothing but this server.
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** console/dist/, the same from src/server/ and dist/server/. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/dist/', import.meta.url));

const ASSET_PREFIX = '/assets/';

/** Vite's flat, hashed asset names: no directories, nothing hidden. */
const ASSET_NAME = /^[A-Za-z0-9_-][\w.-]*$/;

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

/** A `Host` header safe to repeat in a header: a name or address and a port, nothing else. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * Everything from this server only ('self'; no inline script or style);
 * images and media also from blob:/data: (previews of a picked file) and the
 * public URL results are served under; requests to this server, including its
 * WebSocket (named explicitly: not every browser counts ws: as 'self').
 */
export function consolePolicy(host: string | undefined, publicUrl: string | undefined): string {
  const extra = new Set<string>();
  for (const h of [host && HOST.test(host) ? host : undefined, publicUrl ? new URL(publicUrl).host : undefined]) {
    if (h) extra.add(`ws://${h}`).add(`wss://${h}`);
  }
  const pub = publicUrl ? ` ${new URL(publicUrl).origin}` : '';
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' blob: data:${pub}`,
    `media-src 'self' blob:${pub}`,
    `connect-src 'self'${pub}${[...extra].map((e) => ` ${e}`).join('')}`,
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** Whether a path is the console's to answer. */
export function isConsolePath(pathname: string): boolean {
  return pathname === '/' || pathname.startsWith(ASSET_PREFIX);
}

async function readOrNull(file: string): Promise<Buffer | null> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') return null;
    throw err;
  }
}

function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string | number>, body: Buffer | string): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...headers, 'content-length': bytes.length });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>reelay</title>
<p>The web console is not built: run <code>npm run build</code> (it runs on <code>npm install</code> and before <code>npm start</code>).
GraphiQL is at <a href="/graphql">/graphql</a>.</p>`;

/** Answers a request for `/` or `/assets/…` (isConsolePath). */
export async function serveConsole(req: IncomingMessage, res: ServerResponse, pathname: string, opts: { dir?: string; publicUrl?: string } = {}): Promise<void> {
  const dir = opts.dir ?? CONSOLE_DIR;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(req, res, 405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, 'Method Not Allowed\n');
  }
  if (pathname === '/') {
    res.setHeader('content-security-policy', consolePolicy(req.headers.host, opts.publicUrl));
    res.setHeader('referrer-policy', 'no-referrer');
    const page = await readOrNull(path.join(dir, 'index.html'));
    if (!page) return send(req, res, 503, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, NOT_BUILT);
    return send(req, res, 200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }, page);
  }
  const name = pathname.slice(ASSET_PREFIX.length);
  const type = TYPES[path.extname(name)];
  const body = ASSET_NAME.test(name) && type ? await readOrNull(path.join(dir, 'assets', name)) : null;
  if (!body) return send(req, res, 404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, 'Not Found\n');
  return send(req, res, 200, { 'content-type': type!, 'cache-control': 'public, max-age=31536000, immutable' }, body);
}
