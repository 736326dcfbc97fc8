// Provider health: a periodic check where the upstream has a health endpoint,
// otherwise learnt from recent outcomes (consecutive transient failures).
// Outcome health lives in the database (src/db/provider-health.ts) so every
// process shows what the runners saw and failures from all of them add up; an
// unhealthy verdict lapses after a cool-down so the provider gets tried again.
import type { Db } from '../db/client.js';
import { readProviderHealth, recordProviderFailure, recordProviderSuccess } from '../db/provider-health.js';
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from './registry.js';

export interface ProviderHealth {
  healthy: boolean;
  checkedAt: Date | null;
  message: string | null;
}

export interface HealthOptions {
  intervalMs?: number;
  /** Consecutive transient failures that make a provider unhealthy. */
  failureThreshold?: number;
  /** How long an outcome-based "unhealthy" lasts without new failures. */
  cooldownMs?: number;
}

interface OutcomeState {
  healthy: boolean;
  failures: number;
  message: string | null;
  at: Date;
}

export class HealthMonitor {
  private readonly endpoint = new Map<string, ProviderHealth>();
  private readonly outcomes = new Map<string, OutcomeState>();
  private timer?: NodeJS.Timeout;
  private readonly intervalMs: number;
  private readonly threshold: number;
  private readonly cooldownMs: number;

  constructor(
    private readonly registry: ProviderRegistry,
    private readonly db: Db,
    private readonly log: Logger,
    opts: HealthOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 30_000;
    this.threshold = opts.failureThreshold ?? 3;
    this.cooldownMs = opts.cooldownMs ?? 30_000;
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), Math.min(this.intervalMs, 5000));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get(id: string): ProviderHealth {
    const ep = this.endpoint.get(id);
    if (ep && !ep.healthy) return ep;
    const o = this.outcomes.get(id);
    if (o && !o.healthy && Date.now() - o.at.getTime() < this.cooldownMs) return { healthy: false, checkedAt: o.at, message: o.message };
    return ep ?? { healthy: true, checkedAt: o?.at ?? null, message: null };
  }

  /**
   * Called by the runner after each upstream call: ok, or a transient failure
   * with its message. The count lives in the database (one atomic increment per
   * failure, a reset per success), so every process's failures add up.
   */
  async recordOutcome(id: string, ok: boolean, message: string | null = null): Promise<void> {
    const before = this.outcomes.get(id);
    let state: OutcomeState;
    try {
      const row = ok ? await recordProviderSuccess(this.db, id) : await recordProviderFailure(this.db, id, message, this.threshold);
      state = row ? { healthy: row.healthy, failures: row.consecutiveFailures, message: row.message, at: row.checkedAt } : { healthy: true, failures: 0, message: null, at: before?.at ?? new Date() };
    } catch (err) {
      this.log.warn({ err, provider: id }, 'could not store provider health');
      // Judged by this process alone until the database answers again.
      const failures = ok ? 0 : (before?.failures ?? 0) + 1;
      state = { healthy: failures < this.threshold, failures, message: ok ? null : message, at: new Date() };
    }
    this.outcomes.set(id, state);
    if ((before?.healthy ?? true) !== state.healthy) this.log.warn({ provider: id, healthy: state.healthy, message: state.message }, 'provider health changed');
  }

  /** Health endpoints (where the kind has one) and the shared outcome table. */
  async refresh(): Promise<void> {
    const now = Date.now();
    await Promise.all([
      ...this.registry.list().map(async ({ config, provider }) => {
        if (!provider.health) return;
        const last = this.endpoint.get(config.id);
        if (last?.checkedAt && now - last.checkedAt.getTime() < this.intervalMs - 100) return;
        let healthy = false;
        let message: string | null = null;
        try {
          healthy = await provider.health({ signal: AbortSignal.timeout(5000) });
          if (!healthy) message = 'health endpoint reported a problem';
        } catch (err) {
          message = (err as Error).message;
        }
        if (last && last.healthy !== healthy) this.log.warn({ provider: config.id, healthy, message }, 'provider health changed');
        this.endpoint.set(config.id, { healthy, checkedAt: new Date(), message });
      }),
      (async () => {
        try {
          const rows = await readProviderHealth(this.db);
          for (const r of rows) this.outcomes.set(r.providerId, { healthy: r.healthy, failures: r.consecutiveFailures, message: r.message, at: r.checkedAt });
        } catch (err) {
          this.log.warn({ err }, 'could not read provider health');
        }
      })(),
    ]);
  }
}
