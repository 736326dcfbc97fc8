// Builds the web console (console/ → console/dist/, with the client library
// src/client it talks through bundled in) with Vite: run by
// scripts/build.mjs, so on install and before every `npm start`, and by the
// browser tests when the build is missing. A stamp of the sources' hash makes
// an unchanged console cost a few file reads, not a Vite build. The new build
// is written beside the old one and swapped in, so a running server never
// serves a half-written directory.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CONSOLE_SRC = path.join(ROOT, 'console');
export const CONSOLE_DIST = path.join(CONSOLE_SRC, 'dist');
const STAMP = path.join(CONSOLE_DIST, '.source-hash');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

/** The client library (reelay/client) the console talks through: bundled from its sources. */
const CLIENT_SRC = path.join(ROOT, 'src', 'client');

/** The hash of what the build depends on: the console's and the client's sources and the versions of what it bundles. */
function sourceHash() {
  const hash = crypto.createHash('sha256');
  const files = [path.join(CONSOLE_SRC, 'index.html'), ...walk(path.join(CONSOLE_SRC, 'src')), ...walk(CLIENT_SRC)].sort();
  for (const f of files) hash.update(path.relative(ROOT, f)).update('\0').update(fs.readFileSync(f)).update('\0');
  for (const pkg of ['vite', 'preact', 'htm', 'graphql-ws', 'graphql', 'gql.tada']) {
    try {
      hash.update(`${pkg}@${JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version}\0`);
    } catch {
      hash.update(`${pkg}@?\0`);
    }
  }
  return hash.digest('hex');
}

/** Builds unless console/dist/ already holds a build of these sources; true when it built. */
export async function buildConsole({ force = false } = {}) {
  if (!fs.existsSync(path.join(CONSOLE_SRC, 'index.html'))) return false; // shipped without sources: serve what was shipped
  const wanted = sourceHash();
  if (!force && fs.existsSync(path.join(CONSOLE_DIST, 'index.html')) && fs.existsSync(STAMP) && fs.readFileSync(STAMP, 'utf8') === wanted) return false;
  const { build } = await import('vite');
  const tmp = path.join(CONSOLE_SRC, `.dist.${process.pid}.tmp`);
  try {
    await build({
      root: CONSOLE_SRC,
      configFile: false,
      envDir: false,
      publicDir: false,
      base: '/',
      logLevel: 'warn',
      clearScreen: false,
      build: {
        outDir: tmp,
        emptyOutDir: true,
        assetsDir: 'assets',
        target: 'es2022',
        sourcemap: false,
        // The polyfill would be an inline script: the Content-Security-Policy allows none.
        modulePreload: { polyfill: false },
        reportCompressedSize: false,
        chunkSizeWarningLimit: 1000,
      },
    });
    fs.writeFileSync(path.join(tmp, '.source-hash'), wanted);
    const old = `${CONSOLE_DIST}.${process.pid}.old`;
    if (fs.existsSync(CONSOLE_DIST)) fs.renameSync(CONSOLE_DIST, old);
    fs.renameSync(tmp, CONSOLE_DIST);
    fs.rmSync(old, { recursive: true, force: true });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (await buildConsole({ force: process.argv.includes('--force') })) console.error('reelay: built the web console to console/dist/');
}
