// Which columns of tasks a `tasks` query needs, read from its selection: a
// list page of ids and statuses then loads three columns, not thirty (prompts,
// params and results are most of a row's bytes). Any field not in the table
// below, e.g. one added later, loads every column: safe by default.
import type { FieldNode, FragmentDefinitionNode, GraphQLResolveInfo, SelectionSetNode } from 'graphql';
import type { TaskRow } from '../db/schema.js';

type Column = keyof TaskRow;

/** VideoTask field → the row columns its resolver reads (keep in step with task.ts). */
export const TASK_FIELD_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  __typename: [],
  id: ['id'],
  status: ['status'],
  progress: ['progress'],
  queuePosition: ['status'],
  estimatedSecondsRemaining: ['status', 'providerId', 'model', 'startedAt', 'progress'],
  estimatedCompletionAt: ['status', 'providerId', 'model', 'startedAt', 'progress'],
  prompt: ['prompt'],
  negativePrompt: ['negativePrompt'],
  provider: ['providerId'],
  model: ['model'],
  providerTaskId: ['providerTaskId'],
  upstreamStatus: ['upstreamStatus'],
  mediaType: ['mediaType'],
  params: ['params'],
  inputImage: ['inputImage'],
  result: ['result'],
  error: ['errorCode', 'errorMessage'],
  attempts: ['attempts'],
  events: [],
  createdAt: ['createdAt'],
  updatedAt: ['updatedAt'],
  startedAt: ['startedAt'],
  completedAt: ['completedAt'],
  retryOf: ['retryOf'],
  owner: ['owner'],
  webhookDeliveries: [],
  cost: ['costAmount', 'costCurrency', 'status', 'providerId'],
};

/** Cursors and the owner check need these whatever is selected. */
const ALWAYS: readonly Column[] = ['id', 'createdAt', 'owner'];

/** Fields selected in `set`, through fragments (directives ignored: selecting more is harmless). */
function fieldsOf(set: SelectionSetNode | undefined, fragments: Record<string, FragmentDefinitionNode>, out: FieldNode[] = []): FieldNode[] {
  for (const s of set?.selections ?? []) {
    if (s.kind === 'Field') out.push(s);
    else if (s.kind === 'InlineFragment') fieldsOf(s.selectionSet, fragments, out);
    else fieldsOf(fragments[s.name.value]?.selectionSet, fragments, out);
  }
  return out;
}

/** The columns the VideoTask selections of a connection field need; null means all of them. */
export function connectionColumns(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>): Column[] | null {
  const columns = new Set<Column>(ALWAYS);
  const nodeSelections: FieldNode[] = [];
  for (const conn of info.fieldNodes) {
    for (const f of fieldsOf(conn.selectionSet, info.fragments)) {
      if (f.name.value === 'nodes') nodeSelections.push(f);
      if (f.name.value === 'edges') nodeSelections.push(...fieldsOf(f.selectionSet, info.fragments).filter((e) => e.name.value === 'node'));
    }
  }
  for (const node of nodeSelections) {
    for (const f of fieldsOf(node.selectionSet, info.fragments)) {
      const needs = TASK_FIELD_COLUMNS[f.name.value];
      if (!needs) return null;
      for (const c of needs) columns.add(c);
    }
  }
  return [...columns];
}

/** Whether the connection field selects `name` directly (e.g. totalCount). */
export function selects(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>, name: string): boolean {
  return info.fieldNodes.some((conn) => fieldsOf(conn.selectionSet, info.fragments).some((f) => f.name.value === name));
}
