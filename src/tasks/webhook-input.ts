// Checks createVideoTask's `webhook` (and a key's default endpoint) before
// anything is stored: an http(s) URL without credentials, not a literal
// private, local or metadata address unless REELAY_WEBHOOK_ALLOW_HOSTS lists
// it. Host names are judged again, after DNS, at every delivery (safePost).
import { ValidationError } from '../errors.js';
import { forbiddenBeforeLookup, normalizeHost } from '../net/address-policy.js';

export const WEBHOOK_EVENTS = ['STARTED', 'PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
/** What a webhook without `events` receives: the final states. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

/** Why this URL cannot be a webhook endpoint, or null when it can; `url` is its normalized form. */
export function webhookUrlProblem(raw: string, allowHosts: readonly string[]): { problem: string } | { url: string } {
  if (raw.length > 2048) return { problem: 'must be at most 2048 characters' };
  if (raw.includes('\0')) return { problem: 'must not contain NUL characters' };
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { problem: 'is not a valid URL' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { problem: 'must be an http or https URL' };
  if (u.username || u.password) return { problem: 'must not carry credentials' };
  const host = normalizeHost(u.hostname);
  if (forbiddenBeforeLookup(host, allowHosts)) {
    return { problem: `host ${host} is a private, local or metadata address; reelay does not deliver to such addresses unless REELAY_WEBHOOK_ALLOW_HOSTS lists the host` };
  }
  return { url: u.toString() };
}

export interface WebhookRequest {
  url: string;
  events?: readonly WebhookEvent[] | null;
}

/** The webhook columns of a new task. */
export interface TaskWebhook {
  webhookUrl: string;
  webhookEvents: WebhookEvent[];
}

/**
 * The webhook a new task gets: the request's own, else the key's default
 * endpoint (with the default events), else none. Throws ValidationError
 * (field `webhook.url`, `webhook.events` or `webhook`).
 */
export function taskWebhook(
  input: WebhookRequest | null | undefined,
  keyDefaultUrl: string | null | undefined,
  opts: { allowHosts: readonly string[]; canSign: boolean },
): TaskWebhook | null {
  const given = input ?? (keyDefaultUrl ? { url: keyDefaultUrl } : null);
  if (!given) return null;
  const checked = webhookUrlProblem(given.url, opts.allowHosts);
  if ('problem' in checked) throw new ValidationError('webhook.url', `webhook.url ${checked.problem}`);
  if (given.events && given.events.length === 0) throw new ValidationError('webhook.events', 'webhook.events must list at least one event (or be left out for COMPLETED, FAILED, CANCELLED)');
  if (!opts.canSign) throw new ValidationError('webhook', 'webhooks of keys from the environment (and of a server without keys) are signed with REELAY_WEBHOOK_SECRET, which is not set', 'WEBHOOK_SECRET_MISSING');
  const events = given.events ? WEBHOOK_EVENTS.filter((e) => given.events!.includes(e)) : [...DEFAULT_WEBHOOK_EVENTS];
  return { webhookUrl: checked.url, webhookEvents: events };
}
