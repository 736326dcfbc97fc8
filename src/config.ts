// One typed configuration from the environment and the optional JSON file
// named by REELAY_CONFIG. Anything wrong stops the start with a message that
// names the offending field.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ANONYMOUS_OWNER } from './db/api-keys.js';
import { PROVIDER_KINDS, REMOTE_KINDS } from './providers/kinds.js';
import type { ProviderConfig } from './providers/types.js';
import { parseTrustProxyList } from './net/trust-proxy.js';
import type { FileUrlSigning } from './storage/signed-urls.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const idPattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

const price = z.number().finite().min(0, 'must be a number >= 0');
const priceSchema = z.object({ perVideo: price.optional(), perSecond: price.optional() }).strict();
const pricingSchema = priceSchema
  .extend({
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be a 3-letter currency code in capitals, e.g. "USD"'),
    perModel: z.record(z.string().min(1), priceSchema).optional(),
  })
  .strict();

const providerSchema = z
  .object({
    id: z.string().regex(idPattern, 'must be 1-64 letters, digits, "_", "." or "-"'),
    kind: z.enum(PROVIDER_KINDS, {
      error: (issue) => `unknown kind ${JSON.stringify(issue.input)}; expected one of ${PROVIDER_KINDS.join(', ')}`,
    }),
    baseUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .optional(),
    apiKey: z.string().min(1).optional(),
    models: z.array(z.string().min(1)).default([]),
    maxConcurrency: z.number().int().min(1).max(100_000).default(4),
    pollIntervalMs: z.number().int().min(50).max(600_000).optional(),
    timeoutMs: z.number().int().min(1000).default(600_000),
    requestTimeoutMs: z.number().int().min(100).optional(),
    requestsPerMinute: z.number().int().min(1).optional(),
    fallback: z.array(z.string()).default([]),
    allowHosts: z.array(z.string()).default([]),
    options: z.record(z.string(), z.unknown()).default({}),
    pricing: pricingSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (REMOTE_KINDS.has(p.kind) && !p.baseUrl) ctx.addIssue({ code: 'custom', path: ['baseUrl'], message: `is required for kind "${p.kind}"` });
  });

const fileSchema = z
  .object({
    providers: z.array(providerSchema).min(1, 'must list at least one provider'),
    defaultProvider: z.string().optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const ids = new Set<string>();
    f.providers.forEach((p, i) => {
      if (ids.has(p.id)) ctx.addIssue({ code: 'custom', path: ['providers', i, 'id'], message: `duplicate provider id "${p.id}"` });
      ids.add(p.id);
    });
    f.providers.forEach((p, i) =>
      p.fallback.forEach((fb, j) => {
        if (!ids.has(fb)) ctx.addIssue({ code: 'custom', path: ['providers', i, 'fallback', j], message: `unknown provider "${fb}"` });
      }),
    );
    if (f.defaultProvider && !ids.has(f.defaultProvider)) ctx.addIssue({ code: 'custom', path: ['defaultProvider'], message: `unknown provider "${f.defaultProvider}"` });
  });

const envInt = (name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: `${name} must be a number` }).int(`${name} must be an integer`).min(min, `${name} must be >= ${min}`).max(max, `${name} must be <= ${max}`).default(def);

/** A positive number of days, fractions allowed (`0.5` is 12 hours); unset: off. */
const envDays = (name: string) =>
  z.coerce.number({ error: `${name} must be a number of days` }).positive(`${name} must be a positive number of days (unset it to keep forever)`).max(1_000_000, `${name} must be <= 1000000`).optional();

const envSchema = z.object({
  PORT: envInt('PORT', 4000, 0, 65535),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must start with postgres:// or postgresql://')
    .optional(),
  REELAY_EVENTS_URL: z
    .string()
    .regex(/^(redis|rediss|nats):\/\/[^/?#]/, 'REELAY_EVENTS_URL must be a redis://, rediss:// or nats:// URL with a host')
    .optional(),
  REELAY_DATA_DIR: z.string().min(1).default('./data'),
  REELAY_CONFIG: z.string().optional(),
  REELAY_API_KEYS: z.string().optional(),
  REELAY_ADMIN_KEYS: z.string().optional(),
  REELAY_PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'REELAY_PUBLIC_URL must be an http(s) URL' }).optional(),
  REELAY_CORS_ORIGINS: z.string().optional(),
  REELAY_LEASE_MS: envInt('REELAY_LEASE_MS', 30_000, 500),
  REELAY_RUNNER_CONCURRENCY: envInt('REELAY_RUNNER_CONCURRENCY', 1000, 1, 100_000),
  REELAY_MAX_ATTEMPTS: envInt('REELAY_MAX_ATTEMPTS', 5, 1, 100),
  REELAY_MAX_IMAGE_BYTES: envInt('REELAY_MAX_IMAGE_BYTES', 10 * 1024 * 1024, 1024),
  REELAY_MAX_IMAGE_PIXELS: envInt('REELAY_MAX_IMAGE_PIXELS', 40_000_000, 1),
  REELAY_MAX_RESULT_BYTES: envInt('REELAY_MAX_RESULT_BYTES', 2 * 1024 ** 3, 1024),
  REELAY_RENDER_STALL_MS: envInt('REELAY_RENDER_STALL_MS', 30_000, 100),
  REELAY_IMAGE_CHECK_WAIT_MS: envInt('REELAY_IMAGE_CHECK_WAIT_MS', 10_000, 1, 600_000),
  REELAY_SHUTDOWN_TIMEOUT_MS: envInt('REELAY_SHUTDOWN_TIMEOUT_MS', 10_000, 0),
  REELAY_HEALTH_INTERVAL_MS: envInt('REELAY_HEALTH_INTERVAL_MS', 30_000, 100),
  REELAY_MAX_ACTIVE_TASKS_PER_KEY: envInt('REELAY_MAX_ACTIVE_TASKS_PER_KEY', 100, 0, 1_000_000),
  REELAY_CREATES_PER_MINUTE_PER_KEY: envInt('REELAY_CREATES_PER_MINUTE_PER_KEY', 120, 0, 1_000_000),
  REELAY_METRICS_TOKEN: z
    .string()
    .min(16, 'REELAY_METRICS_TOKEN must be at least 16 characters')
    .regex(/^[\x21-\x7e]+$/, 'REELAY_METRICS_TOKEN must be printable ASCII without spaces')
    .optional(),
  REELAY_METRICS_PORT: z.coerce
    .number({ error: 'REELAY_METRICS_PORT must be a number' })
    .int('REELAY_METRICS_PORT must be an integer')
    .min(0, 'REELAY_METRICS_PORT must be >= 0')
    .max(65535, 'REELAY_METRICS_PORT must be <= 65535')
    .optional(),
  REELAY_TRUST_PROXY: z.string().optional(),
  REELAY_RETENTION_DAYS: envDays('REELAY_RETENTION_DAYS'),
  REELAY_FILE_RETENTION_DAYS: envDays('REELAY_FILE_RETENTION_DAYS'),
  REELAY_RETENTION_INTERVAL_MS: envInt('REELAY_RETENTION_INTERVAL_MS', 300_000, 1000, 86_400_000),
  REELAY_FILE_URL_TTL_SECONDS: z.coerce
    .number({ error: 'REELAY_FILE_URL_TTL_SECONDS must be a number' })
    .int('REELAY_FILE_URL_TTL_SECONDS must be an integer')
    .min(1, 'REELAY_FILE_URL_TTL_SECONDS must be >= 1')
    .max(10 * 365 * 86_400, 'REELAY_FILE_URL_TTL_SECONDS must be <= 315360000 (10 years)')
    .optional(),
  REELAY_FILE_URL_SECRET: z.string().min(32, 'REELAY_FILE_URL_SECRET must be at least 32 characters').optional(),
  REELAY_WEBHOOK_SECRET: z.string().optional(),
  REELAY_WEBHOOK_ALLOW_HOSTS: z.string().optional(),
  REELAY_WEBHOOK_TIMEOUT_MS: envInt('REELAY_WEBHOOK_TIMEOUT_MS', 10_000, 100, 600_000),
  REELAY_WEBHOOK_RETRY_BASE_MS: envInt('REELAY_WEBHOOK_RETRY_BASE_MS', 5_000, 1),
  REELAY_WEBHOOK_RETRY_MAX_MS: envInt('REELAY_WEBHOOK_RETRY_MAX_MS', 3_600_000, 1),
  REELAY_WEBHOOK_GIVE_UP_MS: envInt('REELAY_WEBHOOK_GIVE_UP_MS', 86_400_000, 1),
  REELAY_WEBHOOK_CONCURRENCY: envInt('REELAY_WEBHOOK_CONCURRENCY', 16, 1, 1000),
  REELAY_WEBHOOK_POLL_MS: envInt('REELAY_WEBHOOK_POLL_MS', 1_000, 10, 600_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Role = 'all' | 'api' | 'runner';

export interface ApiKeyEntry {
  name: string;
  key: string;
  /** An operator key (REELAY_ADMIN_KEYS): its `tasks` and `stats` span every owner. */
  admin?: boolean;
}

export interface Config {
  port: number;
  host: string;
  databaseUrl?: string;
  /** redis://… or nats://…: carry change events there instead of Postgres LISTEN/NOTIFY. */
  eventsUrl?: string;
  dataDir: string;
  filesDir: string;
  publicUrl?: string;
  /** Origins (scheme://host[:port]) whose pages may call the API from the browser (CORS, WebSocket). */
  corsOrigins: string[];
  role: Role;
  providers: ProviderConfig[];
  defaultProvider: string;
  apiKeys: ApiKeyEntry[];
  leaseMs: number;
  runnerConcurrency: number;
  maxAttempts: number;
  maxImageBytes: number;
  /** Largest width × height of an image reelay decodes (inputs, image results). */
  maxImagePixels: number;
  /** Largest result stored; a larger one fails the task with RESULT_TOO_LARGE. */
  maxResultBytes: number;
  /** A local render without progress this long is killed (RENDER_STALLED). */
  renderStallMs: number;
  /** Longest wait of a create for a free image decode slot (then IMAGE_CHECK_BUSY). */
  imageCheckWaitMs: number;
  shutdownTimeoutMs: number;
  healthIntervalMs: number;
  /** Default per-key limits (0: off); a stored key may override them. */
  maxActiveTasksPerKey: number;
  createsPerMinutePerKey: number;
  /** Bearer token that opens GET /metrics to non-loopback scrapers. */
  metricsToken?: string;
  /** Where a `--role runner` process serves GET /metrics (unset: it serves none). */
  metricsPort?: number;
  /** REELAY_TRUST_PROXY: reverse proxies (addresses, CIDR ranges, loopback/linklocal/uniquelocal) whose X-Forwarded-* headers count. */
  trustProxy: string[];
  /** REELAY_RETENTION_DAYS: finished tasks completed longer ago are deleted with their files (unset: kept forever). */
  retentionDays?: number;
  /** REELAY_FILE_RETENTION_DAYS: the stored files of finished tasks completed longer ago are removed; the tasks stay. */
  fileRetentionDays?: number;
  /** REELAY_RETENTION_INTERVAL_MS: time between the runner's retention sweeps. */
  retentionIntervalMs: number;
  /** REELAY_FILE_URL_TTL_SECONDS + REELAY_FILE_URL_SECRET: /files/ links are signed and expire; unset: capability links. */
  fileUrls?: FileUrlSigning;
  logLevel: string;
  webhooks: WebhookConfig;
}

/** Webhook deliveries (README "Webhooks"). */
export interface WebhookConfig {
  /** REELAY_WEBHOOK_SECRET (`whsec_…`): signs for owners without a stored key's own secret (environment keys, the keyless mode). */
  secret?: string;
  /** REELAY_WEBHOOK_ALLOW_HOSTS: receivers that may be private (host names, `*.suffix`, IPs, CIDRs). */
  allowHosts: string[];
  /** How long a receiver has to answer. */
  timeoutMs: number;
  /** Backoff: the first retry waits retryBaseMs, each next one twice as long, at most retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** No attempt is made later than this after the event: the delivery is given up. */
  giveUpMs: number;
  /** Deliveries sent at once by one process. */
  concurrency: number;
  /** How often an idle deliverer looks for due deliveries (it is also woken by finished tasks). */
  pollMs: number;
}

function formatIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((i) => {
    const where = i.path.length ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(root)';
    return `  - ${where}: ${i.message}`;
  });
  return `invalid configuration in ${source}:\n${lines.join('\n')}`;
}

export function parseApiKeys(raw: string | undefined, variable = 'REELAY_API_KEYS'): ApiKeyEntry[] {
  if (!raw?.trim()) return [];
  const entries = raw.split(',').map((pair, i) => {
    const idx = pair.indexOf(':');
    const name = idx > 0 ? pair.slice(0, idx).trim() : '';
    const key = idx > 0 ? pair.slice(idx + 1).trim() : '';
    if (!name || !key) throw new ConfigError(`invalid configuration in ${variable}: entry ${i + 1} must look like name:key`);
    if (name === ANONYMOUS_OWNER) throw new ConfigError(`invalid configuration in ${variable}: entry ${i + 1}: "${ANONYMOUS_OWNER}" is reserved for the tasks of a server without keys`);
    return { name, key };
  });
  checkOneOwnerPerKey(entries, () => variable);
  return entries;
}

/** A key names its owner: one value under two names would make whose tasks it sees a matter of order. */
function checkOneOwnerPerKey(entries: ApiKeyEntry[], where: (i: number) => string): void {
  const firstWithKey = new Map<string, number>();
  entries.forEach(({ name, key }, i) => {
    const first = firstWithKey.get(key);
    if (first === undefined) return void firstWithKey.set(key, i);
    if (entries[first]!.name !== name || !!entries[first]!.admin !== !!entries[i]!.admin) {
      throw new ConfigError(`invalid configuration in ${where(i)}: entries ${first + 1} ("${entries[first]!.name}") and ${i + 1} ("${name}") have the same key; a key must belong to one owner`);
    }
  });
}

/**
 * REELAY_API_KEYS and REELAY_ADMIN_KEYS (operator keys, same `name:key,…`
 * form) as one list; the same key may not appear in both.
 */
export function parseAllApiKeys(clients: string | undefined, admins: string | undefined): ApiKeyEntry[] {
  const all = [...parseApiKeys(clients), ...parseApiKeys(admins, 'REELAY_ADMIN_KEYS').map((k) => ({ ...k, admin: true }))];
  checkOneOwnerPerKey(all, () => 'REELAY_API_KEYS and REELAY_ADMIN_KEYS');
  return all;
}

/** A Standard Webhooks secret: `whsec_` and the base64 of 16 to 64 random bytes. */
export function parseWebhookSecret(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(raw.trim());
  const bytes = m ? Buffer.from(m[1]!, 'base64').length : 0;
  if (!m || bytes < 16 || bytes > 64) throw new ConfigError('invalid configuration in REELAY_WEBHOOK_SECRET: it must be "whsec_" followed by the base64 of 16 to 64 random bytes (e.g. whsec_$(openssl rand -base64 32))');
  return m[0];
}

/** `hooks.internal,10.0.0.0/8,*.svc.local` → entries for hostAllowed. */
export function parseWebhookAllowHosts(raw: string | undefined): string[] {
  if (!raw?.trim()) return [];
  const entries = raw.split(',').map((e) => e.trim()).filter(Boolean);
  for (const e of entries) {
    if (/[\s/?#@]/.test(e.replace(/\/\d{1,3}$/, ''))) throw new ConfigError(`invalid configuration in REELAY_WEBHOOK_ALLOW_HOSTS: ${JSON.stringify(e)} is not a host name, *.suffix, IP address or CIDR range`);
  }
  return entries;
}

export function parseTrustProxy(raw: string | undefined): string[] {
  try {
    return parseTrustProxyList(raw);
  } catch (err) {
    throw new ConfigError(`invalid configuration in REELAY_TRUST_PROXY: ${(err as Error).message}`);
  }
}

/** `https://app.example.com,http://localhost:5173` → normalized origins; `*`, paths and credentials are refused. */
export function parseCorsOrigins(raw: string | undefined): string[] {
  if (!raw?.trim()) return [];
  return raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const url = URL.canParse(entry) ? new URL(entry) : null;
      const isOrigin = url && /^https?:$/.test(url.protocol) && !/^[a-z]+:\/\/[^/]*\/./i.test(entry) && !url.search && !url.hash && !url.username && !entry.includes('*');
      if (!isOrigin) throw new ConfigError(`invalid configuration in REELAY_CORS_ORIGINS: ${JSON.stringify(entry)} is not an origin like https://app.example.com (scheme, host, optional port; no "*", no path)`);
      return url.origin;
    });
}

function normalizeProvider(p: z.infer<typeof providerSchema>): ProviderConfig {
  // The built-in renderer reports progress from memory: poll it often.
  const pollIntervalMs = p.pollIntervalMs ?? (p.kind === 'local' ? 250 : 2000);
  return { ...p, pollIntervalMs };
}

export function loadProvidersFile(file: string): z.infer<typeof fileSchema> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError(formatIssues(file, parsed.error));
  return parsed.data;
}

/** Both variables or neither: one alone would leave links unsigned, or signed with nothing to check. */
export function parseFileUrlSigning(ttlSeconds: number | undefined, secret: string | undefined): FileUrlSigning | undefined {
  if (ttlSeconds === undefined && secret === undefined) return undefined;
  if (ttlSeconds === undefined || secret === undefined) {
    const [set, unset] = ttlSeconds === undefined ? ['REELAY_FILE_URL_SECRET', 'REELAY_FILE_URL_TTL_SECONDS'] : ['REELAY_FILE_URL_TTL_SECONDS', 'REELAY_FILE_URL_SECRET'];
    throw new ConfigError(`invalid configuration in the environment: ${set} is set but ${unset} is not; signed file links need both (or neither)`);
  }
  return { ttlSeconds, secret };
}

export function parseRole(argv: string[]): Role {
  const i = argv.indexOf('--role');
  const inline = argv.find((a) => a.startsWith('--role='));
  const value = inline ? inline.slice('--role='.length) : i >= 0 ? argv[i + 1] : 'all';
  if (value !== 'all' && value !== 'api' && value !== 'runner') throw new ConfigError(`--role must be one of all, api, runner (got ${JSON.stringify(value)})`);
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: string[] = process.argv.slice(2), cwd = process.cwd()): Config {
  // An empty variable means unset, as in most shells' `VAR= cmd`.
  const parsedEnv = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsedEnv.success) throw new ConfigError(formatIssues('the environment', parsedEnv.error));
  const e = parsedEnv.data;

  const explicit = e.REELAY_CONFIG;
  const file = explicit ? path.resolve(cwd, explicit) : path.resolve(cwd, 'reelay.config.json');
  const fromFile = explicit || fs.existsSync(file) ? loadProvidersFile(file) : undefined;
  const providers = fromFile
    ? fromFile.providers.map(normalizeProvider)
    : [normalizeProvider(providerSchema.parse({ id: 'local', kind: 'local' }))];
  const defaultProvider = fromFile?.defaultProvider ?? providers[0]!.id;

  const role = parseRole(argv);
  if (role !== 'all' && !e.DATABASE_URL) {
    throw new ConfigError(`--role ${role} needs DATABASE_URL: split roles share one Postgres; the embedded database only works with a single process (--role all)`);
  }
  const dataDir = path.resolve(cwd, e.REELAY_DATA_DIR);
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    eventsUrl: e.REELAY_EVENTS_URL,
    dataDir,
    filesDir: path.join(dataDir, 'files'),
    publicUrl: e.REELAY_PUBLIC_URL?.replace(/\/+$/, ''),
    corsOrigins: parseCorsOrigins(e.REELAY_CORS_ORIGINS),
    role,
    providers,
    defaultProvider,
    apiKeys: parseAllApiKeys(e.REELAY_API_KEYS, e.REELAY_ADMIN_KEYS),
    leaseMs: e.REELAY_LEASE_MS,
    runnerConcurrency: e.REELAY_RUNNER_CONCURRENCY,
    maxAttempts: e.REELAY_MAX_ATTEMPTS,
    maxImageBytes: e.REELAY_MAX_IMAGE_BYTES,
    maxImagePixels: e.REELAY_MAX_IMAGE_PIXELS,
    maxResultBytes: e.REELAY_MAX_RESULT_BYTES,
    renderStallMs: e.REELAY_RENDER_STALL_MS,
    imageCheckWaitMs: e.REELAY_IMAGE_CHECK_WAIT_MS,
    shutdownTimeoutMs: e.REELAY_SHUTDOWN_TIMEOUT_MS,
    healthIntervalMs: e.REELAY_HEALTH_INTERVAL_MS,
    maxActiveTasksPerKey: e.REELAY_MAX_ACTIVE_TASKS_PER_KEY,
    createsPerMinutePerKey: e.REELAY_CREATES_PER_MINUTE_PER_KEY,
    metricsToken: e.REELAY_METRICS_TOKEN,
    metricsPort: e.REELAY_METRICS_PORT,
    trustProxy: parseTrustProxy(e.REELAY_TRUST_PROXY),
    retentionDays: e.REELAY_RETENTION_DAYS,
    fileRetentionDays: e.REELAY_FILE_RETENTION_DAYS,
    retentionIntervalMs: e.REELAY_RETENTION_INTERVAL_MS,
    fileUrls: parseFileUrlSigning(e.REELAY_FILE_URL_TTL_SECONDS, e.REELAY_FILE_URL_SECRET),
    logLevel: e.LOG_LEVEL,
    webhooks: {
      secret: parseWebhookSecret(e.REELAY_WEBHOOK_SECRET),
      allowHosts: parseWebhookAllowHosts(e.REELAY_WEBHOOK_ALLOW_HOSTS),
      timeoutMs: e.REELAY_WEBHOOK_TIMEOUT_MS,
      retryBaseMs: e.REELAY_WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: e.REELAY_WEBHOOK_RETRY_MAX_MS,
      giveUpMs: e.REELAY_WEBHOOK_GIVE_UP_MS,
      concurrency: e.REELAY_WEBHOOK_CONCURRENCY,
      pollMs: e.REELAY_WEBHOOK_POLL_MS,
    },
  };
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
