// `npm run keys -- …`: the commands, parsed and run the same way whether the
// CLI opens the database itself or hands its arguments to the running server
// that owns the embedded database (src/keys/control.ts).
import { parseArgs } from 'node:util';
import { ApiKeyError, checkKeyName, createApiKey, listApiKeys, revokeApiKey, type CreateKeyOptions } from '../db/api-keys.js';
import type { Db } from '../db/client.js';

export const USAGE = 'usage: npm run keys -- create <name> [--max-active N] [--per-minute N] | revoke <name> | list';

export type KeysCommand =
  | { command: 'create'; name: string; options: CreateKeyOptions }
  | { command: 'revoke'; name: string }
  | { command: 'list' };

/** What a command prints and its exit code. */
export interface KeysResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(`${message}\n${USAGE}`);
    this.name = 'UsageError';
  }
}

/** Options of `create`, as node's parseArgs describes them. */
const CREATE_OPTIONS = { 'max-active': { type: 'string' }, 'per-minute': { type: 'string' } } as const;

/** `--max-active N --per-minute N`: the key's own limits (0: off). */
function createOptions(values: Record<string, string | boolean | undefined>): CreateKeyOptions {
  const count = (flag: string) => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d{1,9}$/.test(v)) throw new UsageError(`--${flag} must be a whole number >= 0 (0 turns the limit off)`);
    return Number(v);
  };
  return { maxActive: count('max-active'), perMinute: count('per-minute') };
}

export function parseKeysArgs(argv: string[]): KeysCommand {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command === 'create' ? CREATE_OPTIONS : {}, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const names = parsed.positionals;
  switch (command) {
    case 'create':
    case 'revoke':
      if (names.length !== 1) throw new UsageError(`${command} takes exactly one key name`);
      // Refused before any database is opened.
      if (command === 'create') checkKeyName(names[0]!);
      return command === 'create' ? { command, name: names[0]!, options: createOptions(parsed.values) } : { command, name: names[0]! };
    case 'list':
      if (names.length) throw new UsageError('list takes no arguments');
      return { command };
    default:
      throw new UsageError(command ? `unknown command "${command}"` : 'no command given');
  }
}

/** A refusal of `parseKeysArgs` or the database as the CLI prints it. */
export function refusal(err: unknown): KeysResult | undefined {
  if (err instanceof UsageError) return { code: 2, stdout: '', stderr: `${err.message}\n` };
  if (err instanceof ApiKeyError) return { code: 1, stdout: '', stderr: `reelay keys: ${err.message}\n` };
  return undefined;
}

/** Runs a command; refusals the user can fix come back as a result, anything else throws. */
export async function runKeysCommand(db: Db, cmd: KeysCommand): Promise<KeysResult> {
  try {
    switch (cmd.command) {
      case 'create': {
        const key = await createApiKey(db, cmd.name, cmd.options);
        return { code: 0, stdout: `created key "${cmd.name}" (shown once, store it now):\n${key}\n`, stderr: '' };
      }
      case 'revoke': {
        const ok = await revokeApiKey(db, cmd.name);
        return ok ? { code: 0, stdout: `revoked key "${cmd.name}"\n`, stderr: '' } : { code: 1, stdout: '', stderr: `reelay keys: no active key named "${cmd.name}"\n` };
      }
      case 'list': {
        const keys = await listApiKeys(db);
        if (!keys.length) return { code: 0, stdout: 'no API keys in the database (create one with: npm run keys -- create <name>)\n', stderr: '' };
        const lines = keys.map((k) => `${k.name}\tcreated ${k.createdAt.toISOString()}\t${k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active'}\tmax-active ${k.maxActiveTasks ?? 'default'}, per-minute ${k.createsPerMinute ?? 'default'}\n`);
        return { code: 0, stdout: lines.join(''), stderr: '' };
      }
    }
  } catch (err) {
    const refused = refusal(err);
    if (refused) return refused;
    throw err;
  }
}
