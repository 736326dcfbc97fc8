// Can this provider do what the request asks? Used when a task is created and
// again when the runner looks for a fallback provider.
import type { ProviderCapabilities } from '../providers/types.js';

export interface Wants {
  image: boolean;
  /** The image is stored bytes (upload or base64) rather than a URL. */
  imageBytes?: boolean;
  /** reelay serves stored images at a public URL (REELAY_PUBLIC_URL). */
  publicFiles?: boolean;
  model?: string | null;
  negativePrompt?: string | null;
  seed?: number | null;
  durationSeconds?: number | null;
  width?: number | null;
  height?: number | null;
  aspectRatio?: string | null;
}

/** The first thing the provider cannot do, as { field, message }, or null. */
export function capabilityProblem(caps: ProviderCapabilities, providerId: string, w: Wants): { field: string; message: string } | null {
  const id = providerId;
  if (w.image && !caps.imageToVideo) return { field: 'image', message: `provider "${id}" does not accept an input image` };
  if (!w.image && !caps.textToVideo) return { field: 'image', message: `provider "${id}" needs an input image (image-to-video only)` };
  if (w.image && w.imageBytes && caps.imageUrlOnly && !w.publicFiles) return { field: 'image', message: `provider "${id}" takes input images only as URLs (image.url), or uploads when REELAY_PUBLIC_URL is set` };
  if (w.model && !caps.models.includes(w.model)) {
    return { field: 'model', message: caps.models.length ? `provider "${id}" has no model "${w.model}"; available: ${caps.models.join(', ')}` : `provider "${id}" does not take a model` };
  }
  if (w.negativePrompt && !caps.negativePrompt) return { field: 'negativePrompt', message: `provider "${id}" does not support a negative prompt` };
  if (w.seed !== null && w.seed !== undefined && !caps.seed) return { field: 'seed', message: `provider "${id}" does not support a seed` };
  if (w.durationSeconds !== null && w.durationSeconds !== undefined) {
    if (!caps.durations) return { field: 'durationSeconds', message: `provider "${id}" decides the duration itself` };
    if (w.durationSeconds < caps.durations.min || w.durationSeconds > caps.durations.max) {
      return { field: 'durationSeconds', message: `provider "${id}" supports durations from ${caps.durations.min} to ${caps.durations.max} seconds` };
    }
  }
  if (w.width != null && !caps.customSize) return { field: 'width', message: `provider "${id}" does not accept an explicit size` };
  if (w.aspectRatio) {
    if (caps.aspectRatios.length && !caps.aspectRatios.includes(w.aspectRatio)) {
      return { field: 'aspectRatio', message: `provider "${id}" supports aspect ratios ${caps.aspectRatios.join(', ')}` };
    }
    if (!caps.aspectRatios.length && !caps.customSize) return { field: 'aspectRatio', message: `provider "${id}" does not accept an aspect ratio` };
  }
  return null;
}
