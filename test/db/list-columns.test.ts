// A `tasks` page loads only the columns its selection needs (through
// fragments too), every column for a field it does not know, and the answers
// are the same either way; deep pages stay index-bounded (row comparison).
// Through the real server on PGlite and Postgres.
import { isObjectType, Kind, parse, type OperationDefinitionNode, type FragmentDefinitionNode, type FieldNode } from 'graphql';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.js';
import { connectionColumns, TASK_FIELD_COLUMNS } from '../../src/schema/task-columns.js';
import { startTestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';

const kinds = await databaseKinds();

function columnsOf(query: string) {
  const doc = parse(query);
  const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const fragments = Object.fromEntries(doc.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]));
  const field = op.selectionSet.selections[0] as FieldNode;
  const cols = connectionColumns({ fieldNodes: [field], fragments });
  return cols && [...cols].sort();
}

describe('columns of a tasks page', () => {
  it('are those the selected fields read, plus id, createdAt and owner', () => {
    expect(columnsOf(`{ tasks { edges { cursor node { id status } } pageInfo { endCursor } } }`)).toEqual(['createdAt', 'id', 'owner', 'status']);
    expect(columnsOf(`{ tasks { nodes { ...F error { code } } } } fragment F on VideoTask { provider ... on VideoTask { result { url } } }`)).toEqual(
      ['createdAt', 'errorCode', 'errorMessage', 'id', 'owner', 'providerId', 'result'],
    );
    expect(columnsOf(`{ tasks { totalCount } }`)).toEqual(['createdAt', 'id', 'owner']);
    expect(columnsOf(`{ tasks { edges { node { id someFieldAddedLater } } } }`)).toBeNull();
  });

  it('are known for every field of VideoTask', () => {
    const type = schema.getType('VideoTask');
    if (!isObjectType(type)) throw new Error('VideoTask is not an object type');
    expect(Object.keys(type.getFields()).filter((f) => !(f in TASK_FIELD_COLUMNS))).toEqual([]);
  });
});

describe.each(kinds)('a tasks page through the server on %s', (kind) => {
  it('answers the same with few columns and with all, forward and backward across pages', async () => {
    const t = await startTestApp({ db: kind, configure: (c) => (c.role = 'api') });
    try {
      for (let i = 0; i < 7; i++) await t.gql(`mutation($p: String!) { createVideoTask(input: { prompt: $p }) { __typename } }`, { p: `page ${i}` });
      // Distinct creation times in prompt order (two creates can share a millisecond).
      await t.app.services.database.db.execute(sql`update tasks set created_at = now() - interval '1 hour' + split_part(prompt, ' ', 2)::int * interval '1 second'`);
      t.queries.length = 0;
      const slim = await t.gql(`{ tasks(first: 3) { edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }`);
      const listSql = t.queries.find((q) => q.includes('from "tasks"'))!;
      expect(listSql).not.toContain('"prompt"');
      const full = await t.gql(`{ tasks(first: 3) { edges { cursor node { id status prompt params createdAt } } pageInfo { hasNextPage endCursor } } }`);
      expect(full.data.tasks.edges.map((e: { cursor: string; node: { id: string; status: string } }) => ({ cursor: e.cursor, node: { id: e.node.id, status: e.node.status } }))).toEqual(slim.data.tasks.edges);
      expect(full.data.tasks.edges.map((e: { node: { prompt: string } }) => e.node.prompt)).toEqual(['page 6', 'page 5', 'page 4']);
      // Following cursors both ways visits every task once, in order.
      const seen: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page: any = (await t.gql(`query($a: String) { tasks(first: 2, after: $a) { nodes { prompt } pageInfo { hasNextPage endCursor } } }`, { a: after })).data.tasks;
        seen.push(...page.nodes.map((n: { prompt: string }) => n.prompt));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `page ${6 - i}`));
      const back: any = (await t.gql(`query($b: String) { tasks(last: 2, before: $b) { nodes { prompt } } }`, { b: after })).data.tasks;
      expect(back.nodes.map((n: { prompt: string }) => n.prompt)).toEqual(['page 3', 'page 2']);
    } finally {
      await t.stop();
    }
  });
});
