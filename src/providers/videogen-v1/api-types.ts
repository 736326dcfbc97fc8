// The upstream JSON of the Video Generation API (seed 000), as far as reelay
// relies on it. Unknown fields pass through; missing optional ones are fine.
import { z } from 'zod';

const nullableString = z.string().nullish();

/** Every 2xx answer is wrapped: {code, message, data}; code 0 means success. */
export const envelopeSchema = z.looseObject({
  code: z.number(),
  message: nullableString,
  data: z.unknown(),
});

/** A task as returned by create (status pending) and by GET /api/v1/videos/tasks/{id}. */
export const taskSchema = z.looseObject({
  id: z.union([z.string().min(1), z.number()]).transform(String),
  model: nullableString,
  status: z.string().min(1),
  created_at: z.number().nullish(),
  updated_at: z.number().nullish(),
  /** Only meaningful when completed; kept loose so a half-filled result is reported, not rejected. */
  result: z.looseObject({ video_url: nullableString, duration: z.number().nullish(), resolution: nullableString }).nullish(),
  error: nullableString,
});
export type VideogenTask = z.infer<typeof taskSchema>;

export const healthSchema = z.looseObject({
  status: z.string(),
  service: nullableString,
  message: nullableString,
});
