// `npm start` runs dist/ without --enable-source-maps (which parses every
// module's map at load, node_modules' too); its stacks still name the
// TypeScript lines, the map read only when a stack is formatted.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, buildOnce } from '../support/processes.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-maps-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// A compiled module whose throwing line moves when compiled (types and comments go).
const source = path.join(dir, 'src', 'thrower.ts');
fs.mkdirSync(path.dirname(source), { recursive: true });
fs.writeFileSync(source, ['interface Shape {', '  a: number;', '}', '// a comment', 'export function boom(s: Shape): never {', '  throw new Error(`boom ${s.a}`);', '}', ''].join('\n'));
buildSync({ entryPoints: [source], outdir: path.join(dir, 'dist'), format: 'esm', platform: 'node', sourcemap: true, sourcesContent: false, logLevel: 'silent' });

function stackOf(install: boolean, nodeArgs: string[] = []): string {
  buildOnce();
  const script = [
    `import { installLazySourceMaps } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/source-maps.js')).href)};`,
    install ? `installLazySourceMaps(${JSON.stringify(path.join(dir, 'dist'))});` : '',
    `const { boom } = await import(${JSON.stringify(pathToFileURL(path.join(dir, 'dist', 'thrower.js')).href)});`,
    `try { boom({ a: 1 }); } catch (e) { console.log(e.stack); }`,
  ].join('\n');
  return execFileSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { encoding: 'utf8' });
}

describe('lazy source maps', () => {
  it('map frames of compiled files to their TypeScript lines', () => {
    const stack = stackOf(true);
    expect(stack).toContain('Error: boom 1');
    expect(stack).toContain(`${source}:6:9`);
    expect(stack).not.toContain('thrower.js');
  });

  it('leave stacks alone when not installed, and defer to --enable-source-maps', () => {
    expect(stackOf(false)).toContain('thrower.js:');
    expect(stackOf(true, ['--enable-source-maps'])).toContain(`${source}:6:`);
  });
});
