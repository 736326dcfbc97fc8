// `postinstall`: applies patches/ (patch-package) to reelay's own dependencies.
// In a checkout (npm install / npm ci) they are in ./node_modules and a patch
// that no longer applies fails the install. Installed as a dependency of
// another project (from a git URL, for the client library and the CLI) npm
// hoists them into that project's node_modules, where patch-package does not
// look and which is not reelay's to change: the patches are skipped there with
// a line saying so (only the server uses the patched postgres driver; the
// client and the CLI do not load it).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PATCHES = path.join(ROOT, 'patches');

/** "postgres+3.4.9.patch" → "postgres"; "@scope+name+1.0.0.patch" → "@scope/name". */
function packageOf(file) {
  const parts = file.replace(/\.patch$/, '').split('+');
  parts.pop(); // the version
  return parts.join('/');
}

const patches = fs.existsSync(PATCHES) ? fs.readdirSync(PATCHES).filter((f) => f.endsWith('.patch')) : [];
const missing = patches.map(packageOf).filter((name) => !fs.existsSync(path.join(ROOT, 'node_modules', name, 'package.json')));
if (!patches.length) process.exit(0);
if (missing.length === patches.length && ROOT.split(path.sep).includes('node_modules')) {
  console.error(`reelay: installed as a dependency, patches/ not applied (${missing.join(', ')} not in reelay's own node_modules); the client library and the CLI do not use ${missing.length > 1 ? 'them' : 'it'}`);
  process.exit(0);
}
const require = createRequire(path.join(ROOT, 'package.json'));
const bin = path.join(path.dirname(require.resolve('patch-package/package.json')), 'index.js');
const r = spawnSync(process.execPath, [bin, '--error-on-fail'], { cwd: ROOT, stdio: 'inherit' });
process.exit(r.status ?? 1);
