// The compiled server runs graphql-js in production mode unless NODE_ENV says
// otherwise (src/production-mode.ts): graphql reads NODE_ENV once, when loaded,
// so it must be set before anything imports graphql.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOnce, ROOT } from '../support/processes.js';

// In development graphql-js refuses an object that looks like one of its types from "another
// module or realm" (it compares names after a failed instanceof); in production it is just not one.
const PROBE = `
await import(process.argv[1]);
const { isListType } = await import('graphql');
const lookalike = Object.create({ constructor: { name: 'GraphQLList' }, [Symbol.toStringTag]: 'GraphQLList' });
let mode;
try { mode = isListType(lookalike) ? 'list' : 'production checks'; } catch { mode = 'development checks'; }
console.log(JSON.stringify({ env: process.env.NODE_ENV ?? null, mode }));`;

function probe(env: Record<string, string | undefined>): { env: string | null; mode: string } {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, path.join(ROOT, 'dist/production-mode.js')], { cwd: ROOT, env: childEnv, encoding: 'utf8' });
  return JSON.parse(out.trim()) as { env: string | null; mode: string };
}

describe('production mode of the compiled server', () => {
  it('without NODE_ENV, dist/ sets production before graphql loads: its development-only checks are off', () => {
    buildOnce();
    expect(probe({ NODE_ENV: undefined })).toEqual({ env: 'production', mode: 'production checks' });
  });

  it('an operator’s NODE_ENV is kept', () => {
    buildOnce();
    expect(probe({ NODE_ENV: 'development' })).toEqual({ env: 'development', mode: 'development checks' });
  });

  it('dist/main.js loads it before any other module', () => {
    buildOnce();
    const imports = fs
      .readFileSync(path.join(ROOT, 'dist/main.js'), 'utf8')
      .split('\n')
      .filter((l) => /^import\b/.test(l));
    expect(imports[0]).toMatch(/^import\s+["']\.\/production-mode\.js["'];?$/);
  });
});
