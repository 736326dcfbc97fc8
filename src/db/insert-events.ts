// History events of many tasks in one statement whose text is the same for any
// number of them (jsonRecords): prepared once per connection, where a
// multi-row INSERT was a new text for every count.
import { sql } from 'drizzle-orm';
import { execRows, jsonRecords, type DbOrTx } from './client.js';
import { taskEvents, type TaskStatus } from './schema.js';

export interface NewEvent {
  taskId: string;
  status: TaskStatus;
  progress: number | null;
  message: string;
}

export async function insertEvents(db: DbOrTx, events: readonly NewEvent[]): Promise<void> {
  if (!events.length) return;
  const rows = events.map((e) => ({ task_id: e.taskId, status: e.status, progress: e.progress, message: e.message }));
  await execRows(
    db,
    sql`insert into ${taskEvents} (task_id, status, progress, message)
        select task_id, status, progress, message from ${jsonRecords(rows, 'e', 'task_id uuid, status task_status, progress float8, message text')}`,
  );
}
