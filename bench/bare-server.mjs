// The baseline of bench/throughput.ts: the least a GraphQL server can do for
// reelay's create and list, with the same libraries (graphql-yoga on node:http,
// postgres.js) and the same SQL against reelay's own tables. One mutation does
// one INSERT; one query does one keyset SELECT. Plain JavaScript run by plain
// node, as `npm start` runs reelay's compiled dist/. Prints `listening <port>`.
//   DATABASE_URL=postgres://… PORT=0 node bench/bare-server.mjs
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';
import postgres from 'postgres';

const sql = postgres(process.env.DATABASE_URL, { max: 10, onnotice: () => {} });
const OWNER = process.env.BARE_OWNER ?? 'bench';

const cursorOf = (row) => Buffer.from(JSON.stringify([row.created_at.getTime(), row.id])).toString('base64url');

const schema = createSchema({
  typeDefs: /* GraphQL */ `
    type Task { id: ID! status: String! }
    type Edge { cursor: String! node: Task! }
    type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
    type Connection { edges: [Edge!]! pageInfo: PageInfo! }
    input CreateInput { prompt: String! }
    type CreatePayload { task: Task! }
    type Query { tasks(first: Int!): Connection! }
    type Mutation { createVideoTask(input: CreateInput!): CreatePayload! }
  `,
  resolvers: {
    Query: {
      async tasks(_r, { first }) {
        const rows = await sql`select id, status, created_at from tasks where owner = ${OWNER} order by created_at desc, id desc limit ${first + 1}`;
        const page = rows.slice(0, first);
        return {
          edges: page.map((node) => ({ cursor: cursorOf(node), node })),
          pageInfo: { hasNextPage: rows.length > first, hasPreviousPage: false, startCursor: page[0] ? cursorOf(page[0]) : null, endCursor: page.length ? cursorOf(page.at(-1)) : null },
        };
      },
    },
    Mutation: {
      async createVideoTask(_r, { input }) {
        const [task] = await sql`insert into tasks (owner, provider_id, prompt) values (${OWNER}, 'local', ${input.prompt}) returning id, status`;
        return { task };
      },
    },
  },
});

const yoga = createYoga({ schema, landingPage: false, graphiql: false, logging: false });
const server = createServer(yoga);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
const stop = () => server.close(() => void sql.end({ timeout: 1 }).then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
