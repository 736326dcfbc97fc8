// What makes two createVideoTask requests "the same" for an idempotency key:
// SHA-256 of a canonical JSON (sorted keys) of the normalized input after
// defaults and routing; the image counts by its source (the URL string, or the
// SHA-256 of uploaded / base64 bytes).
import { createHash } from 'node:crypto';
import type { TaskInputImage, TaskParams } from '../db/schema.js';
import type { ProviderCapabilities } from '../providers/types.js';

export interface FingerprintInput {
  providerId: string;
  model: string | null;
  prompt: string;
  negativePrompt: string | null;
  params: TaskParams;
  inputImage: TaskInputImage | null;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

function imageSource(image: TaskInputImage | null): Record<string, string> | null {
  if (!image) return null;
  if (image.kind === 'url') return { url: image.url! };
  if (!image.sha256) throw new Error('a stored input image has no sha256');
  return { sha256: image.sha256 };
}

/** `defaults`: what the routed provider uses for fields the request left out. */
export function requestFingerprint(r: FingerprintInput, defaults: ProviderCapabilities['defaults'] = {}): string {
  const canonical = canonicalJson({
    prompt: r.prompt,
    negativePrompt: r.negativePrompt,
    provider: r.providerId,
    model: r.model ?? defaults.model ?? null,
    params: { ...r.params, durationSeconds: r.params.durationSeconds ?? defaults.durationSeconds },
    image: imageSource(r.inputImage),
  });
  return createHash('sha256').update(canonical).digest('hex');
}
