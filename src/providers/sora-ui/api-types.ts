// The upstream JSON of the Sora UI video-task API (seed 002), as far as reelay
// relies on it. Unknown fields pass through; missing optional ones are fine.
import { z } from 'zod';

const nullableString = z.string().nullish();

/** A task as returned by create and by GET /api/video/tasks/:videoId. */
export const soraTaskSchema = z.looseObject({
  id: nullableString,
  videoId: z.string().min(1),
  status: z.string().min(1),
  progress: z.number().nullish(),
  videoUrl: nullableString,
  model: nullableString,
  mediaType: nullableString,
  size: nullableString,
  duration: z.number().nullish(),
  /** Not documented; the usual names of a failure reason. */
  errorMessage: nullableString,
  error: nullableString,
  failReason: nullableString,
  message: nullableString,
});
export type SoraTask = z.infer<typeof soraTaskSchema>;

export const soraTaskEnvelopeSchema = z.looseObject({
  success: z.literal(true),
  data: soraTaskSchema,
  message: nullableString,
});

export const soraContentEnvelopeSchema = z.looseObject({
  success: z.literal(true),
  data: z.looseObject({ videoId: nullableString, url: nullableString }),
});

/** GET /api/video/tasks?page&pageSize&orderBy&order: the user's tasks. */
export const soraTaskListSchema = z.looseObject({
  success: z.literal(true),
  data: z.looseObject({
    tasks: z.array(z.looseObject({ videoId: z.string().min(1), prompt: nullableString, model: nullableString, createdAt: nullableString })),
  }),
});

/** The documented error envelope: {success:false, message, code}. */
export const soraErrorSchema = z.looseObject({
  success: z.literal(false),
  message: z.string().optional(),
  code: z.union([z.string(), z.number()]).optional(),
});

/** Readable message of an error body (falls back to the common shapes). */
export function soraErrorMessage(body: unknown): string | undefined {
  const r = soraErrorSchema.safeParse(body);
  return r.success && r.data.message ? r.data.message : undefined;
}

/**
 * The upstream's own error code when it is a word, prefixed so it cannot be
 * mistaken for one of reelay's codes: "UNAUTHORIZED" → "UPSTREAM_UNAUTHORIZED".
 */
export function soraErrorCode(body: unknown): string | undefined {
  const r = soraErrorSchema.safeParse(body);
  if (!r.success || typeof r.data.code !== 'string' || !/^[A-Za-z][A-Za-z0-9_]{1,63}$/.test(r.data.code)) return undefined;
  const code = r.data.code.toUpperCase();
  return code.startsWith('UPSTREAM_') ? code : `UPSTREAM_${code}`;
}
