// The fan-out baseline: a bare graphql-ws server with an in-memory pubsub and
// the same subscription fields and selection as reelay's, nothing else (no
// yoga, no auth, no database). `POST /publish` with a task as JSON publishes
// it to every subscriber. Prints its port on stdout.
import http from 'node:http';
import { buildSchema, type GraphQLFieldResolver } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

interface Task {
  id: string;
  status: string;
  progress: number | null;
  updatedAt: string;
}

const schema = buildSchema(`
  type VideoTask { id: ID! status: String! progress: Float updatedAt: String! }
  type Query { ok: Boolean }
  type Subscription { taskUpdated(id: ID!): VideoTask  tasksUpdated: VideoTask }
`);

const listeners = new Set<(t: Task) => void>();
// The task's current state, sent first to every taskUpdated subscriber (as reelay does).
let current: Task = { id: '00000000-0000-4000-8000-000000000001', status: 'QUEUED', progress: null, updatedAt: new Date().toISOString() };

/** One subscriber's queue of published tasks, as an async iterator. */
async function* watch(first?: Task): AsyncGenerator<{ [k: string]: Task }> {
  const queue: Task[] = first ? [first] : [];
  let wake: (() => void) | undefined;
  const fn = (t: Task) => {
    queue.push(t);
    wake?.();
  };
  listeners.add(fn);
  try {
    for (;;) {
      while (queue.length) yield { task: queue.shift()! };
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  } finally {
    listeners.delete(fn);
  }
}

const resolveTask: GraphQLFieldResolver<{ task: Task }, unknown> = (src) => src.task;
const subscriptionType = schema.getSubscriptionType()!.getFields();
subscriptionType.taskUpdated!.subscribe = () => watch(current);
subscriptionType.taskUpdated!.resolve = resolveTask;
subscriptionType.tasksUpdated!.subscribe = () => watch();
subscriptionType.tasksUpdated!.resolve = resolveTask;

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    current = JSON.parse(body) as Task;
    for (const fn of listeners) fn(current);
    res.writeHead(204).end();
  });
});
const wss = new WebSocketServer({ server, path: '/graphql' });
useServer({ schema }, wss);
// Exits on SIGTERM (the bench's stop) rather than dying of it, so --cpu-prof can write its profile.
process.on('SIGTERM', () => process.exit(0));
server.listen(0, '127.0.0.1', () => console.log(`port ${(server.address() as { port: number }).port}`));
