// `npm run build` (also run on install and before every `npm start`): compiles
// src/ to dist/, the JavaScript that `npm start` runs. esbuild transpiles each
// file on its own (no bundle, so paths computed from import.meta.url are the
// same under src/ and dist/; type checking is `npm run typecheck`'s job). It
// takes a fraction of a second, so dist/ can never be older than the sources.
// The client library (src/client, exported as `reelay/client`) also gets type
// declarations in dist/client, emitted by TypeScript when its sources changed
// (a hash of them is kept next to the output, so a start costs no TypeScript).
// Only outputs that changed are written, each through a rename, so a server
// starting from dist/ at the same time never reads a half-written file; outputs
// of deleted sources are removed.
import { createHash } from 'node:crypto';
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

const CLIENT_SRC = path.join(SRC, 'client');
const CLIENT_OUT = path.join(OUT, 'client');
const STAMP = path.join(CLIENT_OUT, '.declarations.json');

/** The client's .d.ts files: kept when its sources are unchanged, else emitted (needs the dev dependency typescript). */
async function clientDeclarations() {
  if (!fs.existsSync(CLIENT_SRC)) return { outputs: [], kept: [] };
  const sources = walk(CLIENT_SRC).filter((f) => f.endsWith('.ts')).sort();
  const hash = createHash('sha256');
  for (const f of [...sources, path.join(ROOT, 'tsconfig.json')]) hash.update(`${path.relative(ROOT, f)}\0`).update(fs.readFileSync(f)).update('\0');
  const digest = hash.digest('hex');
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(STAMP, 'utf8'));
  } catch {
    stamp = undefined;
  }
  if (stamp?.hash === digest && stamp.files.every((f) => fs.existsSync(path.join(CLIENT_OUT, f)))) {
    return { outputs: [], kept: [STAMP, ...stamp.files.map((f) => path.join(CLIENT_OUT, f))] };
  }
  let ts;
  try {
    ts = (await import('typescript')).default;
  } catch {
    // An install without dev dependencies keeps whatever declarations it has.
    console.error('reelay: typescript is not installed, dist/client type declarations not rebuilt');
    return { outputs: [], kept: stamp ? [STAMP, ...stamp.files.map((f) => path.join(CLIENT_OUT, f))] : [] };
  }
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  const program = ts.createProgram(sources, {
    ...config.options,
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    declarationMap: false,
    sourceMap: false,
    outDir: CLIENT_OUT,
    rootDir: CLIENT_SRC,
  });
  const outputs = [];
  const emitted = program.emit(undefined, (file, text) => outputs.push({ path: path.resolve(file), contents: Buffer.from(text) }));
  if (emitted.emitSkipped) throw new Error('reelay: emitting dist/client type declarations failed');
  // Hand-written and generated .d.ts sources are not emitted by TypeScript: copy them. The generated
  // schema typings lose their `declare module 'gql.tada'` block there, so an app using gql.tada with its
  // own schema is not told about reelay's (the client passes its introspection explicitly).
  for (const f of sources.filter((f) => f.endsWith('.d.ts'))) {
    const text = fs.readFileSync(f, 'utf8').replace(/\nimport \* as gqlTada from 'gql\.tada';\s*declare module 'gql\.tada' \{[\s\S]*$/, '\n');
    outputs.push({ path: path.join(CLIENT_OUT, path.relative(CLIENT_SRC, f)), contents: Buffer.from(text) });
  }
  const files = outputs.map((o) => path.relative(CLIENT_OUT, o.path)).sort();
  outputs.push({ path: STAMP, contents: Buffer.from(JSON.stringify({ hash: digest, files }) + '\n') });
  return { outputs, kept: [] };
}

const declarations = await clientDeclarations();
const wanted = new Set(declarations.kept);
let written = 0;
for (const file of [...result.outputFiles, ...declarations.outputs]) {
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
