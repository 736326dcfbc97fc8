// `npm run keys -- create <name> | revoke <name> | list`: manage client API
// keys stored (hashed) in the configured database.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config.js';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKeyLimits } from '../src/db/api-keys.js';
import { openDatabase } from '../src/db/client.js';

const USAGE = 'usage: npm run keys -- create <name> [--max-active N] [--per-minute N] | revoke <name> | list';

async function main(): Promise<number> {
  const [command, name] = process.argv.slice(2);
  if (!command || (command !== 'list' && !name)) {
    console.error(USAGE);
    return 2;
  }
  if (name && !/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/.test(name)) {
    console.error('a key name is 1-64 letters, digits, "_", ".", "@" or "-"');
    return 2;
  }
  const config = loadConfig(process.env, []);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: path.join(config.dataDir, 'db') });
  try {
    switch (command) {
      case 'create': {
        const key = await createApiKey(database.db, name!, limitFlags(process.argv.slice(4)));
        console.log(`created key "${name}" (shown once, store it now):\n${key}`);
        return 0;
      }
      case 'revoke': {
        const ok = await revokeApiKey(database.db, name!);
        console.log(ok ? `revoked key "${name}"` : `no active key named "${name}"`);
        return ok ? 0 : 1;
      }
      case 'list': {
        for (const k of await listApiKeys(database.db)) console.log(`${k.name}\tcreated ${k.createdAt.toISOString()}\t${k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active'}\tmax-active ${k.maxActiveTasks ?? 'default'}, per-minute ${k.createsPerMinute ?? 'default'}`);
        return 0;
      }
      default:
        console.error(USAGE);
        return 2;
    }
  } catch (err) {
    console.error(`reelay keys: ${(err as Error).message}`);
    return 1;
  } finally {
    await database.close();
  }
}

/** `--max-active N --per-minute N` of `keys create`: the key's own limits (0: off). */
function limitFlags(args: string[]): ApiKeyLimits {
  const { values } = parseArgs({ args, options: { 'max-active': { type: 'string' }, 'per-minute': { type: 'string' } }, strict: true });
  const count = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (!/^\d{1,9}$/.test(v)) throw new Error(`--${flag} must be a whole number >= 0 (0 turns the limit off)`);
    return Number(v);
  };
  return { maxActive: count('max-active', values['max-active']), perMinute: count('per-minute', values['per-minute']) };
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof ConfigError ? `reelay: ${err.message}` : err);
    process.exit(1);
  },
);
