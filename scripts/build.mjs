// `npm run build` (also run on install and before every `npm start`): compiles
// src/ to dist/, the JavaScript that `npm start` runs. esbuild transpiles each
// file on its own (no bundle, so paths computed from import.meta.url are the
// same under src/ and dist/; type checking is `npm run typecheck`'s job). It
// takes a fraction of a second, so dist/ can never be older than the sources.
// Only outputs that changed are written, each through a rename, so a server
// starting from dist/ at the same time never reads a half-written file; outputs
// of deleted sources are removed.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'src');
const OUT = path.join(ROOT, 'dist');

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

// A deployment that ships dist/ without the sources runs what it shipped.
if (!fs.existsSync(SRC)) process.exit(0);

const entryPoints = walk(SRC).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
const result = await build({
  entryPoints,
  outdir: OUT,
  outbase: SRC,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  sourcesContent: false,
  write: false,
  logLevel: 'warning',
  absWorkingDir: ROOT,
});

const wanted = new Set();
let written = 0;
for (const file of result.outputFiles) {
  wanted.add(file.path);
  let current;
  try {
    current = fs.readFileSync(file.path);
  } catch {
    current = undefined;
  }
  if (current && Buffer.compare(current, file.contents) === 0) continue;
  fs.mkdirSync(path.dirname(file.path), { recursive: true });
  const tmp = `${file.path}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, file.contents);
  fs.renameSync(tmp, file.path);
  written++;
}
for (const file of fs.existsSync(OUT) ? walk(OUT) : []) {
  if (!wanted.has(file) && !file.endsWith('.tmp')) fs.rmSync(file, { force: true });
}
// Quiet on install and start; a word when asked for by hand.
const event = process.env.npm_lifecycle_event;
if (written && (!event || event === 'build')) console.error(`reelay: compiled ${written} file(s) to dist/`);

// The web console (console/ → console/dist/), rebuilt only when its sources
// changed. A console that cannot be built (say Vite refuses this Node) must
// not keep the API from starting: `/` then says it is not built.
const { buildConsole } = await import('./build-console.mjs');
try {
  if ((await buildConsole()) && (!event || event === 'build')) console.error('reelay: built the web console to console/dist/');
} catch (err) {
  console.error(`reelay: the web console could not be built (the API is not affected): ${err instanceof Error ? err.message : err}`);
  if (!event || event === 'build') process.exitCode = 1;
}
