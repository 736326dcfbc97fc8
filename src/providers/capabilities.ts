// Small shared pieces of the remote adapters.
import type { ProviderCapabilities } from './types.js';

/** A remote upstream's capabilities: nothing but what `can` lists (never resubmit-safe). */
export function remoteCapabilities(can: Partial<Omit<ProviderCapabilities, 'resubmitSafe'>>): ProviderCapabilities {
  return {
    textToVideo: false,
    imageToVideo: false,
    cancel: false,
    progress: false,
    negativePrompt: false,
    seed: false,
    durations: null,
    customSize: false,
    aspectRatios: [],
    models: [],
    ...can,
    resubmitSafe: false,
  };
}

/** `Authorization: Bearer <key>` when a key is configured. */
export function bearer(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}
