// Builds one Provider per config entry from its kind's factory, each call
// counted and timed for the metrics (metered.ts).
import { createGrokImagineProvider } from './grok-imagine/index.js';
import { createLightx2vProvider } from './lightx2v/index.js';
import { createLocalProvider } from './local/index.js';
import { createSoraUiProvider } from './sora-ui/index.js';
import { createTasksApiProvider } from './tasks-api/index.js';
import type { ProviderKind } from './kinds.js';
import { metered } from './metered.js';
import type { Provider, ProviderConfig, ProviderDeps, ProviderFactory } from './types.js';
import { createVideogenV1Provider } from './videogen-v1/index.js';

export const FACTORIES: Record<ProviderKind, ProviderFactory> = {
  local: createLocalProvider,
  'videogen-v1': createVideogenV1Provider,
  'grok-imagine': createGrokImagineProvider,
  'sora-ui': createSoraUiProvider,
  lightx2v: createLightx2vProvider,
  'tasks-api': createTasksApiProvider,
};

export interface RegisteredProvider {
  config: ProviderConfig;
  provider: Provider;
}

export class ProviderRegistry {
  private readonly entries = new Map<string, RegisteredProvider>();

  constructor(configs: ProviderConfig[], deps: ProviderDeps) {
    for (const config of configs) {
      const factory = FACTORIES[config.kind as ProviderKind];
      if (!factory) throw new Error(`unknown provider kind "${config.kind}"`);
      this.entries.set(config.id, { config, provider: metered(factory(config, deps), config.id) });
    }
  }

  /** A registry of ready-made providers (tests, embedding). */
  static of(entries: RegisteredProvider[]): ProviderRegistry {
    const registry = new ProviderRegistry([], { workDir: '' });
    for (const e of entries) registry.entries.set(e.config.id, { config: e.config, provider: metered(e.provider, e.config.id) });
    return registry;
  }

  get(id: string): RegisteredProvider | undefined {
    return this.entries.get(id);
  }

  list(): RegisteredProvider[] {
    return [...this.entries.values()];
  }

  /** The provider that lists `model`, for requests naming a model but no provider. */
  findByModel(model: string): RegisteredProvider | undefined {
    return this.list().find((e) => e.provider.capabilities.models.includes(model));
  }

  async close(): Promise<void> {
    await Promise.all(this.list().map((e) => e.provider.close?.().catch(() => {})));
  }
}
