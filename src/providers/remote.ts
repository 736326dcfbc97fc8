// Small shared pieces of the remote adapters.
import { joinUrl } from './http.js';
import type { ProviderCapabilities, ResultSource } from './types.js';

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

/** Absolute URLs as they are; relative ones under the base URL (keeping its path prefix). */
export function resolveAgainst(baseUrl: string, value: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(value)) return value;
  if (value.startsWith('//')) return new URL(value, baseUrl).toString();
  return joinUrl(baseUrl, value);
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

/** A result to download: the key goes along only to the upstream's own origin, never to another host. */
export function downloadSource(url: string, baseUrl: string, apiKey: string | undefined): ResultSource {
  const own = originOf(url) !== null && originOf(url) === originOf(baseUrl);
  return apiKey && own ? { kind: 'url', url, headers: bearer(apiKey) } : { kind: 'url', url };
}
