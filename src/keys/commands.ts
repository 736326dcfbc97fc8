// `npm run keys -- …`: the commands, parsed and run the same way whether the
// CLI opens the database itself or hands its arguments to the running server
// that owns the embedded database (src/keys/control.ts).
import { parseArgs } from 'node:util';
import { ApiKeyError, checkKeyName, createApiKeyWithId, listApiKeys, revokeApiKeys, rotateApiKey, type CreateKeyOptions, type NewKey, type RevokeOptions } from '../db/api-keys.js';
import type { Db } from '../db/client.js';
import { keyWebhookSecret, setKeyWebhookUrl } from '../db/key-webhooks.js';
import { redactUrl } from '../net/safe-fetch.js';

export const USAGE =
  'usage: npm run keys -- create <name> [--max-active N] [--per-minute N] [--max-spend-per-day AMOUNT] [--expires 90d] [--admin] | rotate <name> [--expires 90d] | revoke <name> [--id N | --old] | list | webhook <name> <url> | webhook <name> --clear | webhook-secret <name> [--rotate]';

export type KeysCommand =
  | { command: 'create'; name: string; options: CreateKeyOptions }
  | { command: 'rotate'; name: string; expiresInMs?: number }
  | { command: 'revoke'; name: string; options: RevokeOptions }
  | { command: 'list' }
  | { command: 'webhook'; name: string; url: string | null }
  | { command: 'webhook-secret'; name: string; rotate: boolean };

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

/** Options of each command, as node's parseArgs describes them. */
const OPTIONS = {
  create: { 'max-active': { type: 'string' }, 'per-minute': { type: 'string' }, 'max-spend-per-day': { type: 'string' }, expires: { type: 'string' }, admin: { type: 'boolean' } },
  rotate: { expires: { type: 'string' } },
  revoke: { id: { type: 'string' }, old: { type: 'boolean' } },
  webhook: { clear: { type: 'boolean' } },
  'webhook-secret': { rotate: { type: 'boolean' } },
} as const;

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** `--expires 90d` (s, m, h, d or w) as milliseconds. */
export function parseLifetime(value: string): number {
  const m = /^(\d{1,5})([smhdw])$/.exec(value);
  if (!m || Number(m[1]) === 0) throw new UsageError('--expires takes a positive number and a unit: s, m (minutes), h, d or w, e.g. 90d');
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

type Values = Record<string, string | boolean | undefined>;

/** `--max-active N --per-minute N --max-spend-per-day 20 --expires 90d --admin`: the key's own limits (0: off; no spend cap by default), lifetime and role. */
function createOptions(values: Values): CreateKeyOptions {
  const count = (flag: string) => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !/^\d{1,9}$/.test(v)) throw new UsageError(`--${flag} must be a whole number >= 0 (0 turns the limit off)`);
    return Number(v);
  };
  const spend = values['max-spend-per-day'];
  if (spend !== undefined && (typeof spend !== 'string' || !/^\d{1,12}(\.\d{1,6})?$/.test(spend))) throw new UsageError('--max-spend-per-day must be an amount >= 0, e.g. 20 or 7.5 (in the providers\' currency)');
  return {
    maxActive: count('max-active'),
    perMinute: count('per-minute'),
    maxSpendPerDay: spend === undefined ? undefined : Number(spend),
    expiresInMs: expires(values),
    admin: values.admin === true,
  };
}

function expires(values: Values): number | undefined {
  return typeof values.expires === 'string' ? parseLifetime(values.expires) : undefined;
}

function revokeOptions(values: Values): RevokeOptions {
  if (values.id !== undefined && values.old) throw new UsageError('pass either --id or --old, not both');
  if (values.id === undefined) return { old: values.old === true };
  if (typeof values.id !== 'string' || !/^\d{1,9}$/.test(values.id)) throw new UsageError('--id takes the number shown by `list`');
  return { id: Number(values.id) };
}

function newKeyText(what: string, name: string, k: NewKey): string {
  const expiry = k.expiresAt ? `, expires ${k.expiresAt.toISOString()}` : '';
  return `${what} key "${name}" (id ${k.id}${expiry}; shown once, store it now):\n${k.key}\n`;
}

/**
 * A default endpoint as given: an http(s) URL without credentials. Whether its
 * host may be private is judged where REELAY_WEBHOOK_ALLOW_HOSTS is known: at
 * each task's creation (ValidationError on webhook.url) and at delivery.
 */
function webhookUrl(raw: string): string {
  const u = URL.canParse(raw) ? new URL(raw) : null;
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || raw.length > 2048) {
    throw new UsageError('the webhook URL must be an http or https URL without credentials, at most 2048 characters');
  }
  return u.toString();
}

export function parseKeysArgs(argv: string[]): KeysCommand {
  const [command, ...rest] = argv;
  let parsed;
  try {
    const options = command === 'create' || command === 'rotate' || command === 'revoke' || command === 'webhook' || command === 'webhook-secret' ? OPTIONS[command] : {};
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const names = parsed.positionals;
  switch (command) {
    case 'create':
    case 'rotate':
    case 'revoke': {
      if (names.length !== 1) throw new UsageError(`${command} takes exactly one key name`);
      const name = names[0]!;
      const values = parsed.values as Values;
      // Refused before any database is opened.
      if (command === 'create') {
        checkKeyName(name);
        return { command, name, options: createOptions(values) };
      }
      if (command === 'rotate') return { command, name, expiresInMs: expires(values) };
      return { command, name, options: revokeOptions(values) };
    }
    case 'list':
      if (names.length) throw new UsageError('list takes no arguments');
      return { command };
    case 'webhook': {
      const clear = (parsed.values as Values).clear === true;
      if (clear ? names.length !== 1 : names.length !== 2) throw new UsageError('webhook takes a key name and a URL (or --clear instead of the URL)');
      return { command, name: names[0]!, url: clear ? null : webhookUrl(names[1]!) };
    }
    case 'webhook-secret':
      if (names.length !== 1) throw new UsageError('webhook-secret takes exactly one key name');
      return { command, name: names[0]!, rotate: (parsed.values as Values).rotate === true };
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
        const created = await createApiKeyWithId(db, cmd.name, cmd.options);
        return { code: 0, stdout: newKeyText(cmd.options.admin ? 'created operator' : 'created', cmd.name, created), stderr: '' };
      }
      case 'rotate': {
        const created = await rotateApiKey(db, cmd.name, { expiresInMs: cmd.expiresInMs });
        const note = `the older keys of "${cmd.name}" keep working until revoked: npm run keys -- revoke ${cmd.name} --old\n`;
        return { code: 0, stdout: newKeyText('new', cmd.name, created), stderr: note };
      }
      case 'revoke': {
        const n = await revokeApiKeys(db, cmd.name, cmd.options);
        const which = cmd.options.id !== undefined ? ` with id ${cmd.options.id}` : cmd.options.old ? ' older than its newest' : '';
        return n
          ? { code: 0, stdout: n === 1 ? `revoked key "${cmd.name}"${which}\n` : `revoked ${n} keys of "${cmd.name}"\n`, stderr: '' }
          : { code: 1, stdout: '', stderr: `reelay keys: no active key named "${cmd.name}"${which}\n` };
      }
      case 'webhook': {
        await setKeyWebhookUrl(db, cmd.name, cmd.url);
        return { code: 0, stdout: cmd.url ? `tasks of "${cmd.name}" created without a webhook now send their events to ${redactUrl(cmd.url)}\n` : `tasks of "${cmd.name}" have no default webhook any more\n`, stderr: '' };
      }
      case 'webhook-secret': {
        const secret = await keyWebhookSecret(db, cmd.name, { rotate: cmd.rotate });
        const note = cmd.rotate ? `new webhook signing secret of "${cmd.name}" (the old one no longer signs; update your receivers):\n` : '';
        return { code: 0, stdout: `${secret}\n`, stderr: note };
      }
      case 'list': {
        const keys = await listApiKeys(db);
        if (!keys.length) return { code: 0, stdout: 'no API keys in the database (create one with: npm run keys -- create <name>)\n', stderr: '' };
        const now = Date.now();
        const state = (k: (typeof keys)[number]) =>
          k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : k.expiresAt && k.expiresAt.getTime() <= now ? `expired ${k.expiresAt.toISOString()}` : k.expiresAt ? `active, expires ${k.expiresAt.toISOString()}` : 'active';
        const lines = keys.map(
          (k) =>
            `${k.name}\tcreated ${k.createdAt.toISOString()} (id ${k.id}${k.admin ? ', operator' : ''})\t${state(k)}\tmax-active ${k.maxActiveTasks ?? 'default'}, per-minute ${k.createsPerMinute ?? 'default'}${k.maxSpendPerDay !== null ? `, max-spend-per-day ${k.maxSpendPerDay}` : ''}\n`,
        );
        return { code: 0, stdout: lines.join(''), stderr: '' };
      }
    }
  } catch (err) {
    const refused = refusal(err);
    if (refused) return refused;
    throw err;
  }
}
