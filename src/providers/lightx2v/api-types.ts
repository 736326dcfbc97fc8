// The upstream JSON of the LightX2V video API (seed 003), kept loose: the
// documented shape ({task_id, status, progress, message}) and the one of the
// LightX2V server itself ({task_id, task_status, save_result_path}) both pass.
import { z } from 'zod';

const str = z.string().nullish();
const taskId = z.union([z.string().min(1), z.number()]).transform((v) => String(v));

/** Fields that may name the finished video's path on the server. */
export const RESULT_PATH_FIELDS = ['save_result_path', 'save_video_path', 'output_path', 'result_path', 'video_path', 'file_path'] as const;
/** Fields that may hold a ready-made download URL. */
export const RESULT_URL_FIELDS = ['url', 'video_url', 'result_url', 'download_url'] as const;

export const lightSubmitSchema = z.looseObject({
  task_id: taskId,
  status: str,
  task_status: str,
  message: str,
});

export const lightStatusSchema = z
  .looseObject({
    task_id: taskId.optional(),
    status: str,
    task_status: str,
    progress: z.number().nullish(),
    message: str,
    error: str,
  })
  .refine((s) => !!(s.status || s.task_status), { message: 'status is missing' });
export type LightStatus = z.infer<typeof lightStatusSchema>;

/** The status word, whichever field carries it. */
export function statusWord(s: LightStatus): string {
  return (s.status || s.task_status || '').trim();
}

function field(body: unknown, name: string): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const v = (body as Record<string, unknown>)[name];
  return typeof v === 'string' && v.trim() ? v.trim() : undefined;
}

/** A result file path named by a status or result body, if any. */
export function resultPathOf(body: unknown): string | undefined {
  for (const name of RESULT_PATH_FIELDS) {
    const v = field(body, name);
    if (v && !/^https?:\/\//i.test(v)) return v;
  }
  return undefined;
}

/** An absolute result URL named by a result body, if any (path fields may hold one too). */
export function resultUrlOf(body: unknown): string | undefined {
  for (const name of [...RESULT_URL_FIELDS, ...RESULT_PATH_FIELDS]) {
    const v = field(body, name);
    if (v && /^https?:\/\//i.test(v)) return v;
  }
  return undefined;
}
