// Checks a createVideoTask input against the chosen provider's capabilities,
// before anything is stored or sent upstream.
import { z } from 'zod';
import type { Config } from '../config.js';
import type { ProviderRegistry, RegisteredProvider } from '../providers/registry.js';
import { UnsupportedError, ValidationError } from '../errors.js';
import { capabilityProblem } from './capabilities.js';
import type { WebhookRequest } from './webhook-input.js';

export interface CreateInput {
  prompt: string;
  negativePrompt?: string | null;
  provider?: string | null;
  model?: string | null;
  image?: { url?: string | null; base64?: string | null; file?: File | null } | null;
  durationSeconds?: number | null;
  width?: number | null;
  height?: number | null;
  aspectRatio?: string | null;
  seed?: number | null;
  idempotencyKey?: string | null;
  /** Checked by taskWebhook (src/tasks/webhook-input.ts). */
  webhook?: WebhookRequest | null;
}

export type ImageSource = { kind: 'url'; url: string } | { kind: 'base64'; data: string } | { kind: 'file'; file: File };

export interface ValidCreate {
  entry: RegisteredProvider;
  prompt: string;
  negativePrompt: string | null;
  model: string | null;
  image: ImageSource | null;
  params: { durationSeconds?: number; width?: number; height?: number; aspectRatio?: string; seed?: number };
  idempotencyKey: string | null;
}

// Postgres text and jsonb cannot hold NUL (\u0000): refuse it as bad input.
const text = () => z.string().refine((s) => !s.includes('\0'), 'must not contain NUL characters');

const shape = z.object({
  prompt: text().trim().min(1, 'must not be empty').max(4000, 'must be at most 4000 characters'),
  negativePrompt: text().trim().max(2000, 'must be at most 2000 characters').nullish(),
  provider: text().max(200, 'must be at most 200 characters').nullish(),
  model: text().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters').nullish(),
  durationSeconds: z.number().positive('must be positive').max(600, 'must be at most 600').nullish(),
  width: z.number().int().min(64, 'must be at least 64').max(4096, 'must be at most 4096').nullish(),
  height: z.number().int().min(64, 'must be at least 64').max(4096, 'must be at most 4096').nullish(),
  aspectRatio: z.string().regex(/^\d{1,3}:\d{1,3}$/, 'must look like "16:9"').nullish(),
  seed: z.number().int().min(0, 'must not be negative').nullish(),
  idempotencyKey: text().min(1, 'must not be empty').max(200, 'must be at most 200 characters').nullish(),
  image: z
    .object({
      url: text().max(8192, 'must be at most 8192 characters').nullish(),
      base64: text().nullish(),
    })
    .nullish(),
});

function pickProvider(input: CreateInput, registry: ProviderRegistry, config: Config): RegisteredProvider {
  if (input.provider) {
    const entry = registry.get(input.provider);
    if (!entry) throw new ValidationError('provider', `unknown provider "${input.provider}"; available: ${registry.list().map((e) => e.config.id).join(', ')}`, 'UNKNOWN_PROVIDER');
    return entry;
  }
  if (input.model) {
    const byModel = registry.findByModel(input.model);
    if (byModel) return byModel;
  }
  return registry.get(config.defaultProvider)!;
}

function pickImage(image: CreateInput['image']): ImageSource | null {
  if (!image) return null;
  const given = (['url', 'base64', 'file'] as const).filter((k) => image[k] !== null && image[k] !== undefined);
  if (given.length !== 1) throw new ValidationError('image', 'give exactly one of image.url, image.base64 or image.file');
  if (image.url !== null && image.url !== undefined) {
    let u: URL;
    try {
      u = new URL(image.url);
    } catch {
      throw new ValidationError('image.url', 'image.url is not a valid URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ValidationError('image.url', 'image.url must be an http or https URL');
    return { kind: 'url', url: u.toString() };
  }
  if (image.base64 !== null && image.base64 !== undefined) return { kind: 'base64', data: image.base64 };
  return { kind: 'file', file: image.file! };
}

export function validateCreate(input: CreateInput, registry: ProviderRegistry, config: Config): ValidCreate {
  const parsed = shape.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join('.') || 'input';
    throw new ValidationError(field, `${field} ${issue.message}`);
  }
  const v = parsed.data;
  const entry = pickProvider(input, registry, config);
  const caps = entry.provider.capabilities;
  const image = pickImage(input.image);

  const hasW = v.width !== null && v.width !== undefined;
  const hasH = v.height !== null && v.height !== undefined;
  if (hasW !== hasH) throw new ValidationError(hasW ? 'height' : 'width', 'width and height must be given together');
  const problem = capabilityProblem(caps, entry.config.id, { ...v, image: image !== null, imageBytes: image !== null && image.kind !== 'url', publicFiles: !!config.publicUrl });
  if (problem) throw new UnsupportedError(problem.field, problem.message);

  const params: ValidCreate['params'] = {};
  if (v.durationSeconds != null) params.durationSeconds = v.durationSeconds;
  if (hasW) {
    params.width = v.width!;
    params.height = v.height!;
  }
  if (v.aspectRatio) params.aspectRatio = v.aspectRatio;
  if (v.seed != null) params.seed = v.seed;
  return {
    entry,
    prompt: v.prompt,
    negativePrompt: v.negativePrompt || null,
    model: v.model ?? null,
    image,
    params,
    idempotencyKey: v.idempotencyKey ?? null,
  };
}
