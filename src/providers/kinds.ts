// The adapter kinds a config entry may name. Remote kinds need a baseUrl.
export const PROVIDER_KINDS = ['local', 'videogen-v1', 'grok-imagine', 'sora-ui', 'lightx2v', 'tasks-api'] as const;
export type ProviderKind = (typeof PROVIDER_KINDS)[number];
export const REMOTE_KINDS: ReadonlySet<string> = new Set(PROVIDER_KINDS.filter((k) => k !== 'local'));
