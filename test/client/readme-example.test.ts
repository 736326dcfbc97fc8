// The README's frontend example (the first ```ts block under "## Client
// library") is what a frontend would write: it type-checks as a browser module
// against the built package, imported by its name (reelay/client, through
// package.json "exports", as a dependent app resolves it), and is ten lines.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, ROOT } from '../support/processes.js';

const require = createRequire(import.meta.url);

/** The first ```ts block after the heading. */
export function exampleUnder(markdown: string, heading: string): string {
  const at = markdown.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`no "${heading}" in README.md`);
  const m = /\n```ts\n([\s\S]*?)\n```\n/.exec(markdown.slice(at));
  if (!m) throw new Error(`no ts block under "${heading}"`);
  return m[1]!;
}

describe('README: the client library example', () => {
  const example = exampleUnder(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'), '## Client library');
  beforeAll(() => buildOnce(), 180_000);

  it('is about ten lines', () => {
    expect(example.split('\n').filter((l) => l.trim()).length).toBeLessThanOrEqual(10);
    expect(example).toContain("from 'reelay/client'");
  });

  it('type-checks as a browser module against the built reelay/client', () => {
    // Inside the package, so its own name resolves through "exports" (dist/client/index.d.ts).
    const dir = path.join(ROOT, 'test-output', 'readme-example');
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'example.ts'), example + '\n');
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'], types: [], strict: true, noEmit: true, skipLibCheck: true, isolatedModules: true },
        files: ['example.ts'],
      }),
    );
    const tsc = require.resolve('typescript/bin/tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      output = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(output).toBe('');
    // It resolved to the built declarations, not to the sources.
    const trace = execFileSync(process.execPath, [tsc, '-p', dir, '--traceResolution'], { cwd: dir, encoding: 'utf8' });
    expect(trace).toMatch(/Module name 'reelay\/client' was successfully resolved to '[^']*dist\/client\/index\.d\.ts'/);
  });
});
