// Sends the webhook outbox (Standard Webhooks 1.0): claims due deliveries,
// posts each one signed, with bounded concurrency, through the SSRF-safe
// fetch, and records the outcome: delivered, due again after an exponential
// backoff, or given up once the next attempt would fall past the deadline
// (24 h by default). Any runner process delivers; it never holds up task work
// (its own loop, its own small share of the connections). Woken by finished
// tasks (the wake events) and by a short poll for the rest (progress, retries).
import { Webhook } from 'standardwebhooks';
import type { WebhookConfig } from '../config.js';
import type { Db } from '../db/client.js';
import { claimWebhookDeliveries, type ClaimedDelivery } from '../db/claim-webhook-deliveries.js';
import { webhookSecretForOwner } from '../db/key-webhooks.js';
import { recordWebhookAttempt } from '../db/record-webhook-attempt.js';
import type { TaskEvents } from '../events/bus.js';
import type { Logger } from '../logger.js';
import { webhookDeliveries as deliveriesMetric } from '../metrics.js';
import { redactUrl, safePost, WEBHOOK_FETCH } from '../net/safe-fetch.js';
import { UpstreamError } from '../providers/errors.js';
import type { FileUrlSigning } from '../storage/signed-urls.js';
import { taskView, type TaskViewOptions } from '../tasks/task-view.js';
import { backoffMs } from './backoff.js';

export interface WebhookDelivererOptions {
  db: Db;
  events?: TaskEvents;
  config: WebhookConfig;
  /** REELAY_PUBLIC_URL: the origin of absolute URLs; else each task's creating request's. */
  publicUrl?: string;
  /** Where reelay listens: the origin for a task that stored none (created before webhooks). */
  fallbackOrigin: string;
  /** Signed file links (REELAY_FILE_URL_TTL_SECONDS): each delivery attempt gets fresh ones. */
  fileUrls?: FileUrlSigning;
  /** A provider's pricing currency, for the cost shown of unpriced failed tasks (as the API shows it). */
  currencyOf?: (providerId: string) => string | undefined;
  log: Logger;
}

/** A claim is good for the receiver's time plus this margin; then another runner may try again. */
const CLAIM_MARGIN_MS = 30_000;
/** Wake-ups closer together than this share one claim. */
const MIN_GAP_MS = 100;

/** The body a receiver gets. */
export function deliveryBody(d: Pick<ClaimedDelivery, 'event' | 'task' | 'createdAt'>, origin: string, view: TaskViewOptions = {}): string {
  return JSON.stringify({ type: `task.${d.event.toLowerCase()}`, timestamp: d.createdAt.toISOString(), data: taskView(d.task, origin, view) });
}

export class WebhookDeliverer {
  private running = false;
  private wake?: () => void;
  private loopDone?: Promise<void>;
  private readonly sending = new Set<Promise<void>>();
  private unsubscribe?: () => void;
  private readonly abort = new AbortController();

  constructor(private readonly opts: WebhookDelivererOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.opts.events?.onWake(() => this.kick());
    this.loopDone = this.loop();
  }

  kick(): void {
    this.wake?.();
  }

  /** Stop claiming; attempts on the wire get `timeoutMs`, then are aborted (their rows come due again when their claims lapse). */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.kick();
    await this.loopDone;
    const all = () => Promise.allSettled([...this.sending]);
    await Promise.race([all(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.abort.abort(new Error('shutting down'));
    await all();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      let full = false;
      try {
        full = await this.claimOnce();
      } catch (err) {
        this.opts.log.warn({ err }, 'claiming webhook deliveries failed');
      }
      if (!this.running) break;
      if (full) continue;
      const idleSince = Date.now();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.opts.config.pollMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
      // Woken early (a busy server finishes tasks all the time): claim at most every MIN_GAP_MS.
      const gap = Math.min(MIN_GAP_MS, this.opts.config.pollMs) - (Date.now() - idleSince);
      if (gap > 0 && this.running) await new Promise((r) => setTimeout(r, gap));
    }
  }

  /** True when it filled every free slot (there may be more due). */
  private async claimOnce(): Promise<boolean> {
    const free = this.opts.config.concurrency - this.sending.size;
    if (free <= 0) return false;
    const claimed = await claimWebhookDeliveries(this.opts.db, free, this.opts.config.timeoutMs + CLAIM_MARGIN_MS);
    for (const d of claimed) {
      const p: Promise<void> = this.attempt(d)
        .catch((err: unknown) => this.opts.log.error({ err, delivery: d.id }, 'webhook delivery crashed'))
        .finally(() => {
          this.sending.delete(p);
          this.kick();
        });
      this.sending.add(p);
    }
    return claimed.length === free;
  }

  private async attempt(d: ClaimedDelivery): Promise<void> {
    const { config, publicUrl, db, log } = this.opts;
    let status: number | null = null;
    let error: string | null = null;
    try {
      // The claim read the stored secret; only an owner without one yet needs a second look (which may make it).
      const secret = d.secret ?? (await webhookSecretForOwner(db, d.owner)) ?? config.secret;
      if (!secret) throw new Error('no secret to sign with: set REELAY_WEBHOOK_SECRET (owners without a stored key)');
      const body = deliveryBody(d, publicUrl ?? d.task.requestOrigin ?? this.opts.fallbackOrigin, { signing: this.opts.fileUrls, currencyOf: this.opts.currencyOf });
      const now = new Date();
      const headers = {
        'webhook-id': d.id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(d.id, now, body),
      };
      const res = await safePost(d.url, Buffer.from(body), 'application/json', {
        allowHosts: config.allowHosts,
        timeoutMs: config.timeoutMs,
        headers,
        purpose: WEBHOOK_FETCH,
        signal: this.abort.signal,
      });
      status = res.status;
    } catch (err) {
      status = err instanceof UpstreamError ? (err.status ?? null) : null;
      error = err instanceof Error ? err.message : String(err);
    }
    const delivered = error === null;
    const retryInMs = backoffMs(d.attempts, config.retryBaseMs, config.retryMaxMs);
    const outcome = await recordWebhookAttempt(db, { id: d.id, attempts: d.attempts, delivered, status, error, retryInMs, giveUpMs: config.giveUpMs });
    if (outcome) deliveriesMetric.inc({ outcome });
    if (!delivered) log.info({ delivery: d.id, taskId: d.taskId, event: d.event, url: redactUrl(d.url), attempt: d.attempts, outcome, error }, 'webhook delivery failed');
  }
}
