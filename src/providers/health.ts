// Provider health: a periodic check where the upstream has a health endpoint,
// otherwise "healthy" until recent outcomes say otherwise.
import type { Logger } from '../logger.js';
import type { ProviderRegistry } from './registry.js';

export interface ProviderHealth {
  healthy: boolean;
  checkedAt: Date | null;
  message: string | null;
}

export class HealthMonitor {
  private readonly state = new Map<string, ProviderHealth>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly registry: ProviderRegistry,
    private readonly log: Logger,
    private readonly intervalMs = 30_000,
  ) {}

  start(): void {
    void this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  get(id: string): ProviderHealth {
    return this.state.get(id) ?? { healthy: true, checkedAt: null, message: null };
  }

  async checkAll(): Promise<void> {
    await Promise.all(
      this.registry.list().map(async ({ config, provider }) => {
        if (!provider.health) return;
        let healthy = false;
        let message: string | null = null;
        try {
          healthy = await provider.health({ signal: AbortSignal.timeout(5000) });
          if (!healthy) message = 'health endpoint reported a problem';
        } catch (err) {
          message = (err as Error).message;
        }
        const before = this.state.get(config.id);
        if (before && before.healthy !== healthy) this.log.warn({ provider: config.id, healthy, message }, 'provider health changed');
        this.state.set(config.id, { healthy, checkedAt: new Date(), message });
      }),
    );
  }
}
