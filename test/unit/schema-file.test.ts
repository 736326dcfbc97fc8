// schema.graphql is the reviewed API contract: it must match the code.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { printedSchema, SCHEMA_FILE } from '../../scripts/print-schema.js';

describe('schema.graphql', () => {
  it('is up to date (run `npm run schema`)', () => {
    expect(fs.readFileSync(SCHEMA_FILE, 'utf8')).toBe(printedSchema());
  });

  it('keeps the contract names', () => {
    const s = printedSchema();
    for (const needle of [
      'createVideoTask(input: CreateVideoTaskInput!): CreateVideoTaskResult!',
      'cancelTask(id: ID!): CancelTaskResult!',
      'taskUpdated(id: ID!): VideoTask',
      'tasksUpdated(filter: TaskFilter, ready: Boolean = false): VideoTask',
      'interface Error',
      'union CreateVideoTaskResult',
      'queuePosition: Int',
    ]) {
      expect(s).toContain(needle);
    }
  });
});
