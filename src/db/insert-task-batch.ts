// Many plain creates as one statement (the group commit of create-task.ts):
// the tasks, their first events and one change notification per task, in one
// transaction with an ordinary (synchronous) commit. The rows travel as one
// JSON parameter, so the text is the same for any batch size and is prepared
// once per connection.
import { sql } from 'drizzle-orm';
import { execRows, jsonRecords, type Db } from './client.js';
import { taskEvents, tasks, type NewTaskRow, type TaskRow } from './schema.js';
import { changeNotices } from '../events/bus.js';
import { toTaskRow } from './task-row.js';

/** A row of a batch: the columns a plain create sets (create-task.ts PLAIN_COLUMNS). */
export type PlainTaskRow = Pick<NewTaskRow, 'owner' | 'providerId' | 'model' | 'prompt' | 'negativePrompt' | 'params' | 'inputImage'> & { id: string };

/** The inserted rows (in no particular order: callers match them by id). */
export async function insertTaskBatch(db: Db, rows: PlainTaskRow[]): Promise<TaskRow[]> {
  const records = rows.map((r) => ({
    id: r.id,
    owner: r.owner,
    provider_id: r.providerId,
    model: r.model ?? null,
    prompt: r.prompt,
    negative_prompt: r.negativePrompt ?? null,
    params: r.params ?? {},
    // JSON null becomes SQL NULL in jsonb_to_recordset, as a create without an image stores it.
    input_image: r.inputImage ?? null,
  }));
  const raw = await execRows<Record<string, unknown>>(
    db,
    sql`with r as (
      select * from ${jsonRecords(records, 'r', 'id uuid, owner text, provider_id text, model text, prompt text, negative_prompt text, params jsonb, input_image jsonb')}
    ), e as (
      insert into ${taskEvents} (task_id, status, message)
      select r.id, 'QUEUED'::task_status, 'queued for ' || r.provider_id
      from r, lateral ${changeNotices(db, sql`r.id`, { wake: true })} as n
    )
    insert into ${tasks} (id, owner, provider_id, model, prompt, negative_prompt, params, input_image, status)
    select id, owner, provider_id, model, prompt, negative_prompt, params, input_image, 'QUEUED'::task_status from r
    returning *`,
  );
  return raw.map(toTaskRow);
}

