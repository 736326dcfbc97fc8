// How `npm start` runs the server (package.json's start script), so that the
// benchmarks measure reelay as deployed, with the same node flags.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The node flags of `npm start`, before `dist/main.js` (e.g. `--max-semi-space-size=8`). */
export function npmStartFlags(): string[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const args = pkg.scripts.start!.replace(/^exec\s+/, '').split(/\s+/).slice(1); // drop "node"
  const main = args.indexOf('dist/main.js');
  if (main < 0) throw new Error(`package.json's start script does not run dist/main.js: ${pkg.scripts.start}`);
  return args.slice(0, main);
}
