// What the console reads beyond the client's own methods, written with the
// client's `graphql()`: result types come from schema.graphql like the client's.
import { graphql, type ResultOf } from '../../src/client/index.js';

/** A task's history, for its timeline. */
export const TaskEvents = graphql(`
  query TaskEvents($id: ID!) {
    task(id: $id) { id events { status progress message at } }
  }
`);

/** The Operate panel in one request: provider health and the key's stats with the last 24 hours, hour by hour. */
export const Operate = graphql(`
  query Operate {
    health { status db providers { id kind healthy message checkedAt } }
    stats {
      total queued processing completed failed cancelled successRate avgDurationSeconds
      byProvider { provider total completed failed }
      series(bucket: HOUR, last: 24) { start completed failed }
    }
  }
`);

export type TaskEvent = NonNullable<ResultOf<typeof TaskEvents>['task']>['events'][number];
export type OperateData = ResultOf<typeof Operate>;
