// History events of many tasks in one statement whose text is the same for any
// number of them (the events as one JSON parameter): prepared once per
// connection, where a multi-row INSERT was a new text for every count.
import { sql } from 'drizzle-orm';
import { execRows, type DbOrTx } from './client.js';
import { taskEvents, type TaskStatus } from './schema.js';

export interface NewEvent {
  taskId: string;
  status: TaskStatus;
  progress: number | null;
  message: string;
}

export async function insertEvents(db: DbOrTx, events: readonly NewEvent[]): Promise<void> {
  if (!events.length) return;
  const rows = JSON.stringify(events.map((e) => ({ task_id: e.taskId, status: e.status, progress: e.progress, message: e.message })));
  await execRows(
    db,
    sql`insert into ${taskEvents} (task_id, status, progress, message)
        select task_id, status, progress, message from jsonb_to_recordset(${rows}::jsonb) as e (task_id uuid, status task_status, progress float8, message text)`,
  );
}
