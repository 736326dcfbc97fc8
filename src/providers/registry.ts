// Builds one Provider per config entry from its kind's factory, each call
// counted and timed for the metrics (metered.ts). A kind's module (its client,
// its zod schemas of the upstream's answers) is loaded only when a config
// entry names it: a server that talks to one upstream does not hold the code
// of the other five.
import type { ProviderKind } from './kinds.js';
import { metered } from './metered.js';
import type { Provider, ProviderConfig, ProviderDeps, ProviderFactory } from './types.js';

export const FACTORIES: Record<ProviderKind, () => Promise<ProviderFactory>> = {
  local: async () => (await import('./local/index.js')).createLocalProvider,
  'videogen-v1': async () => (await import('./videogen-v1/index.js')).createVideogenV1Provider,
  'grok-imagine': async () => (await import('./grok-imagine/index.js')).createGrokImagineProvider,
  'sora-ui': async () => (await import('./sora-ui/index.js')).createSoraUiProvider,
  lightx2v: async () => (await import('./lightx2v/index.js')).createLightx2vProvider,
  'tasks-api': async () => (await import('./tasks-api/index.js')).createTasksApiProvider,
};

export interface RegisteredProvider {
  config: ProviderConfig;
  provider: Provider;
}

export class ProviderRegistry {
  private readonly entries = new Map<string, RegisteredProvider>();

  private constructor() {}

  /** One provider per config entry, in order; loads the modules of the kinds named, no others. */
  static async create(configs: ProviderConfig[], deps: ProviderDeps): Promise<ProviderRegistry> {
    const factories = new Map<string, ProviderFactory>();
    for (const config of configs) {
      const load = Object.hasOwn(FACTORIES, config.kind) ? FACTORIES[config.kind as ProviderKind] : undefined;
      if (!load) throw new Error(`unknown provider kind "${config.kind}"`);
      if (!factories.has(config.kind)) factories.set(config.kind, await load());
    }
    const registry = new ProviderRegistry();
    for (const config of configs) registry.entries.set(config.id, { config, provider: metered(factories.get(config.kind)!(config, deps), config.id) });
    return registry;
  }

  /** A registry of ready-made providers (tests, embedding). */
  static of(entries: RegisteredProvider[]): ProviderRegistry {
    const registry = new ProviderRegistry();
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
