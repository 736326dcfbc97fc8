// How others get the client and the CLI: package.json "exports" ./client and
// "bin" reelay point at built files, the package imports itself as
// reelay/client, and a pack (what an install from a git URL ships) has dist/.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, ROOT } from '../support/processes.js';

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

describe('package: reelay/client and the reelay bin', () => {
  beforeAll(() => buildOnce(), 180_000);

  it('exports ./client as built JavaScript with type declarations', async () => {
    const entry = pkg.exports['./client'];
    expect(entry).toEqual({ types: './dist/client/index.d.ts', import: './dist/client/index.js' });
    expect(fs.existsSync(path.join(ROOT, entry.types))).toBe(true);
    const dts = fs.readFileSync(path.join(ROOT, entry.types), 'utf8');
    expect(dts).toContain('createReelayClient');
    expect(dts).toContain('VideoTask');
    // The schema typings travel along, without a global gql.tada schema declaration.
    const env = fs.readFileSync(path.join(ROOT, 'dist/client/graphql-env.d.ts'), 'utf8');
    expect(env).toContain('export type introspection');
    expect(env).not.toContain("declare module 'gql.tada'");
    // Node resolves the package's own name through "exports", as a dependent app would.
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', "const m = await import('reelay/client'); console.log(Object.keys(m).sort().join(','))"], { cwd: ROOT });
    expect(stdout.trim().split(',')).toEqual(expect.arrayContaining(['createReelayClient', 'ReelayError', 'isReelayError', 'NETWORK_ERROR']));
  });

  it('has a bin "reelay" that runs without tsx, built on install (prepare)', async () => {
    expect(pkg.bin).toEqual({ reelay: 'bin/reelay.mjs' });
    expect(pkg.scripts.prepare).toContain('scripts/build.mjs');
    expect(fs.statSync(path.join(ROOT, pkg.bin.reelay)).mode & 0o111).not.toBe(0);
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, pkg.bin.reelay), '--version'], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' } });
    expect(stdout.trim()).toBe(pkg.version);
  });

  it('packs dist/ (an install from a git URL ships what its prepare built)', async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    const files = new Set((JSON.parse(stdout)[0].files as Array<{ path: string }>).map((f) => f.path));
    for (const f of ['bin/reelay.mjs', 'dist/cli/main.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/main.js']) expect(files, f).toContain(f);
    expect([...files].some((f) => f.startsWith('node_modules/'))).toBe(false);
  });
});
