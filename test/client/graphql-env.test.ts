// src/client/graphql-env.d.ts (the client's types) is generated from
// schema.graphql by gql.tada: it must match the committed schema.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const COMMITTED = path.join(ROOT, 'src/client/graphql-env.d.ts');

describe('src/client/graphql-env.d.ts', () => {
  it('is up to date with schema.graphql (run `npm run client:types`)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-tada-'));
    try {
      const out = path.join(dir, 'graphql-env.d.ts');
      // gql.tada's own CLI, as `npm run client:types` runs it (schema and output named in tsconfig.json).
      await promisify(execFile)(process.execPath, [path.join(ROOT, 'node_modules/gql.tada/bin/cli.js'), 'generate', 'output', '--output', out], { cwd: ROOT });
      expect(fs.readFileSync(COMMITTED, 'utf8')).toBe(fs.readFileSync(out, 'utf8'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is generated from the committed schema.graphql', () => {
    const tsconfig = fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8');
    expect(tsconfig).toContain('"schema": "./schema.graphql"');
    expect(tsconfig).toContain('"tadaOutputLocation": "./src/client/graphql-env.d.ts"');
  });
});
