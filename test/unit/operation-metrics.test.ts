import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { graphqlOperations } from '../../src/metrics.js';
import { createLogger } from '../../src/logger.js';
import { useOperationMetrics } from '../../src/server/operation-metrics.js';

type Hooks = { onExecuteDone(p: { result: unknown }): void };
type OnExecute = (p: { args: { document: unknown; operationName?: string | null; contextValue: object } }) => Hooks;

async function count(labels: Record<string, string>): Promise<number> {
  const { values } = await graphqlOperations.get();
  return values.find((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))?.value ?? 0;
}

describe('operation metrics', () => {
  it('labels each operation of one parsed document by its own type and root field, also when the labels are remembered per document', async () => {
    const plugin = useOperationMetrics(createLogger('silent'));
    const onExecute = plugin.onExecute as unknown as OnExecute;
    const document = parse('query ListThem { tasks(first: 1) { totalCount } } mutation StopIt { cancelTask(id: "x") { __typename } }');
    const run = (operationName: string, errors = false) =>
      onExecute({ args: { document, operationName, contextValue: {} } }).onExecuteDone({ result: errors ? { errors: [new Error('x')] } : { data: {} } });
    const q = { operation_type: 'query', root_field: 'tasks' };
    const m = { operation_type: 'mutation', root_field: 'cancelTask' };
    const before = { qOk: await count({ ...q, outcome: 'ok' }), mOk: await count({ ...m, outcome: 'ok' }), mErr: await count({ ...m, outcome: 'error' }) };
    for (let i = 0; i < 3; i++) run('ListThem');
    run('StopIt');
    run('StopIt', true);
    run('ListThem');
    expect(await count({ ...q, outcome: 'ok' })).toBe(before.qOk + 4);
    expect(await count({ ...m, outcome: 'ok' })).toBe(before.mOk + 1);
    expect(await count({ ...m, outcome: 'error' })).toBe(before.mErr + 1);
  });
});
