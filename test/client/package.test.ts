// How others get the client and the CLI: package.json "exports" ./client and
// "bin" reelay point at built files, the package imports itself as
// reelay/client, and a pack (what an install from a git URL ships) has dist/.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
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

  /** package.json's postinstall run as npm runs it (sh -c, node_modules/.bin of the tree on PATH) in a copy of the package at `dir`. */
  function postinstallIn(dir: string, bin: string) {
    for (const f of ['package.json', 'patches', 'scripts']) fs.cpSync(path.join(ROOT, f), path.join(dir, f), { recursive: true });
    fs.mkdirSync(bin, { recursive: true });
    fs.symlinkSync(path.join(ROOT, 'node_modules/patch-package/index.js'), path.join(bin, 'patch-package'));
    return spawnSync('sh', ['-c', pkg.scripts.postinstall], { cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` } });
  }

  it('installs as a dependency of another project (npm hoists postgres beside it): the postinstall skips the patches, saying so', () => {
    // npm's layout for `npm install git+…/reelay.git` in an app: app/node_modules/{reelay,postgres,patch-package,…}.
    // patch-package --error-on-fail looked for app/node_modules/reelay/node_modules/postgres and failed the install.
    const app = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-dependent-'));
    try {
      fs.mkdirSync(path.join(app, 'node_modules/postgres'), { recursive: true });
      fs.writeFileSync(path.join(app, 'node_modules/postgres/package.json'), JSON.stringify({ name: 'postgres', version: '3.4.9' }));
      fs.symlinkSync(path.join(ROOT, 'node_modules/patch-package'), path.join(app, 'node_modules/patch-package'));
      const r = postinstallIn(path.join(app, 'node_modules/reelay'), path.join(app, 'node_modules/.bin'));
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stderr).toContain('installed as a dependency, patches/ not applied');
    } finally {
      fs.rmSync(app, { recursive: true, force: true });
    }
  });

  it('in a checkout, a patch that does not apply still fails the install', () => {
    const checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-checkout-'));
    try {
      // A postgres that is not the 3.4.9 the patch was made for: its files are missing.
      fs.mkdirSync(path.join(checkout, 'node_modules/postgres'), { recursive: true });
      fs.writeFileSync(path.join(checkout, 'node_modules/postgres/package.json'), JSON.stringify({ name: 'postgres', version: '3.4.9' }));
      fs.symlinkSync(path.join(ROOT, 'node_modules/patch-package'), path.join(checkout, 'node_modules/patch-package'));
      const r = postinstallIn(checkout, path.join(checkout, 'node_modules/.bin'));
      expect(r.status, r.stdout + r.stderr).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/postgres/);
    } finally {
      fs.rmSync(checkout, { recursive: true, force: true });
    }
  });

  it('packs dist/ (an install from a git URL ships what its prepare built)', async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    const files = new Set((JSON.parse(stdout)[0].files as Array<{ path: string }>).map((f) => f.path));
    for (const f of ['bin/reelay.mjs', 'dist/cli/main.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/main.js']) expect(files, f).toContain(f);
    expect([...files].some((f) => f.startsWith('node_modules/'))).toBe(false);
  });
});
