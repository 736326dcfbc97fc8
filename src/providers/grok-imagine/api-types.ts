// The upstream JSON of the Grok Imagine video API (seed 001), as far as reelay
// relies on it. Unknown fields pass through; missing optional ones are fine.
import { z } from 'zod';

const nullableString = z.string().nullish();

/** The synchronous 200 answer of POST /v1/videos/generations. */
export const generationSchema = z.looseObject({
  id: z.union([z.string().min(1), z.number()]).transform(String).nullish(),
  model: nullableString,
  created: z.number().nullish(),
  video_url: z.string().min(1),
  /** "completed" on success. */
  status: nullableString,
  prompt: nullableString,
});
export type GrokGeneration = z.infer<typeof generationSchema>;

/** OpenAI-style error body: {error:{message, type, code}}. */
export const grokErrorSchema = z.looseObject({
  error: z.looseObject({
    message: z.string().nullish(),
    type: nullableString,
    code: z.union([z.string(), z.number()]).nullish(),
  }),
});

/** The upstream's own error code (invalid_image_url, invalid_model, no_video_url, HTTP_ERROR, ...). */
export function grokErrorCode(body: unknown): string | undefined {
  const r = grokErrorSchema.safeParse(body);
  if (!r.success || r.data.error.code === null || r.data.error.code === undefined) return undefined;
  const code = String(r.data.error.code);
  return /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(code) ? code : undefined;
}
