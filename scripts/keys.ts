// `npm run keys -- create <name> | rotate <name> | revoke <name> | list`: manage client API
// keys stored (hashed) in the configured database. With the embedded database
// and a running server that holds it, the command runs inside that server (so
// it takes effect at once); otherwise this process opens the database itself.
// Output is printed only after the database closed cleanly: a key is never
// shown unless it is stored.
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/config.js';
import { DatabaseUnavailableError, openDatabase, type Database } from '../src/db/client.js';
import { DataDirLockError, DataDirLockedError } from '../src/db/lock.js';
import { parseKeysArgs, refusal, runKeysCommand, type KeysResult } from '../src/keys/commands.js';
import { sendKeysCommand } from '../src/keys/control.js';

async function run(argv: string[]): Promise<KeysResult> {
  const command = parseKeysArgs(argv);
  const config = loadConfig(process.env, []);
  const dataDir = path.join(config.dataDir, 'db');
  let database: Database;
  try {
    database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir, purpose: 'npm run keys', maxConnections: 1 });
  } catch (err) {
    if (!(err instanceof DataDirLockedError)) throw err;
    const viaServer = await sendKeysCommand(dataDir, argv);
    if (!viaServer) throw err;
    const note = viaServer.code === 0 ? `(done by the running server, pid ${err.owner?.pid ?? '?'})\n` : '';
    return { ...viaServer, stderr: viaServer.stderr + note };
  }
  let result: KeysResult;
  try {
    result = await runKeysCommand(database.db, command);
  } finally {
    await database.close();
  }
  return result;
}

function fail(err: unknown): KeysResult {
  const refused = refusal(err);
  if (refused) return refused;
  if (err instanceof ConfigError || err instanceof DatabaseUnavailableError || err instanceof DataDirLockError) {
    return { code: 2, stdout: '', stderr: `reelay keys: ${err.message}\n` };
  }
  return { code: 1, stdout: '', stderr: `reelay keys: ${(err as Error)?.message ?? String(err)}\n` };
}

const result = await run(process.argv.slice(2)).catch(fail);
process.stdout.write(result.stdout);
process.stderr.write(result.stderr);
process.exitCode = result.code;
