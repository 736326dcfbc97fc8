// What a server loads at start: the embedded database (PGlite, a WebAssembly
// Postgres) only when it uses it, GraphiQL's 9 MB page only when a browser asks
// for it, provider kinds only when configured; and its access lines still reach stdout, written asynchronously.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTempDatabase, postgresAvailable, type TempDatabase } from '../support/postgres.js';
import { ROOT, startReelayProcess, waitForOutput, type ReelayProcess } from '../support/processes.js';

const hasPostgres = await postgresAvailable();
const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-start-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function traced(env: Record<string, string>): Promise<{ child: ReelayProcess; loaded: () => string[]; url: () => string }> {
  const trace = path.join(tempDir(), 'modules.txt');
  const child = startReelayProcess([], { PORT: '0', REELAY_DATA_DIR: tempDir(), REELAY_CONFIG: '', NODE_OPTIONS: `--import ${path.join(ROOT, 'test/support/module-trace.mjs')}`, REELAY_MODULE_TRACE: trace, ...env });
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await child.exited;
  });
  // PGlite's start (WebAssembly) takes long on a loaded machine; the tests allow for it.
  await waitForOutput(child, 'reelay ready', 100_000);
  return {
    child,
    loaded: () => (fs.existsSync(trace) ? fs.readFileSync(trace, 'utf8').split('\n').filter(Boolean) : []),
    url: () => /reelay ready at (http:\/\/[^"\s]+)\/graphql/.exec(child.output.join(''))![1]!,
  };
}

describe.runIf(hasPostgres)('a server on Postgres', () => {
  it('does not load PGlite, nor GraphiQL until a browser asks; its access lines reach stdout', { timeout: 120_000 }, async () => {
    const db: TempDatabase = await createTempDatabase();
    cleanups.push(() => db.drop());
    const { child, loaded, url } = await traced({ DATABASE_URL: db.url });
    const base = url();
    expect(loaded().some((u) => u.includes('/dist/db/client.js'))).toBe(true);
    expect(loaded().filter((u) => u.includes('@electric-sql/pglite') || u.includes('drizzle-orm/pglite'))).toEqual([]);
    expect(loaded().filter((u) => u.includes('render-graphiql'))).toEqual([]);
    // Only the provider kinds the config names (the default: local) are loaded, and no event-bus client.
    expect(loaded().some((u) => u.includes('/dist/providers/local/'))).toBe(true);
    expect(loaded().filter((u) => /\/dist\/providers\/(videogen-v1|grok-imagine|sora-ui|lightx2v|tasks-api)\//.test(u))).toEqual([]);
    expect(loaded().filter((u) => u.includes('/node_modules/ioredis/') || u.includes('/node_modules/nats/'))).toEqual([]);
    const page = await fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('reelay');
    expect(loaded().some((u) => u.includes('render-graphiql'))).toBe(true);
    // The access line of that request is written asynchronously, but written.
    await waitForOutput(child, '"path":"/graphql","status":200');
  });
});

describe('a server on the embedded database', () => {
  it('loads PGlite', { timeout: 120_000 }, async () => {
    const { loaded } = await traced({ DATABASE_URL: '' });
    expect(loaded().some((u) => u.includes('@electric-sql/pglite'))).toBe(true);
  });
});
