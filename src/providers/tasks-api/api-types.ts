// The upstream JSON of the video-task API (seed 004), as far as reelay relies
// on it. Unknown fields pass through; missing optional ones are fine.
import { z } from 'zod';

const nullableString = z.string().nullish();

/** A task as returned by POST /api/tasks/ and GET /api/tasks/{task_id}. */
export const taskSchema = z.looseObject({
  task_id: z.union([z.string().min(1), z.number()]).transform(String),
  status: z.string().min(1),
  prompt: nullableString,
  /** When completed: a path relative to the upstream, e.g. "videos/<id>_final.mp4". */
  result: nullableString,
  created_at: nullableString,
  error: nullableString,
});
export type TasksApiTask = z.infer<typeof taskSchema>;

export const healthSchema = z.looseObject({
  status: z.string(),
  message: nullableString,
});

/** GET /api/tasks/?skip&limit */
export const taskListSchema = z.looseObject({
  tasks: z.array(taskSchema),
  total: z.number().optional(),
});
