// Every document the client and the console send is valid against the
// committed schema.graphql. gql.tada types a selection of a field the schema
// lacks loosely (no compile error where the result is not used), so this is
// what makes a schema change that removes or renames a field fail at once.
import fs from 'node:fs';
import path from 'node:path';
import { buildSchema, Kind, validate, type DocumentNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import * as clientDocuments from '../../src/client/documents.js';
import * as consoleDocuments from '../../console/src/documents.js';

const schema = buildSchema(fs.readFileSync(path.resolve(import.meta.dirname, '../../schema.graphql'), 'utf8'));

/** The exported operations (fragments are checked inside the operations that spread them). */
const operations = (mod: Record<string, unknown>) =>
  Object.entries(mod).filter(([, v]) => (v as DocumentNode)?.kind === Kind.DOCUMENT && (v as DocumentNode).definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION)) as Array<[string, DocumentNode]>;

describe('documents sent to the API', () => {
  for (const [where, mod] of [['src/client/documents.ts', clientDocuments], ['console/src/documents.ts', consoleDocuments]] as const) {
    it(`${where}: every operation is valid against schema.graphql`, () => {
      const ops = operations(mod);
      expect(ops.length).toBeGreaterThan(1);
      for (const [name, doc] of ops) expect(validate(schema, doc).map((e) => e.message), name).toEqual([]);
    });
  }

  it('fails for a field the schema does not have', () => {
    const doc = { ...clientDocuments.Task, definitions: clientDocuments.Task.definitions.map((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? { ...d, selectionSet: { ...d.selectionSet, selections: [...d.selectionSet.selections, { kind: Kind.FIELD, name: { kind: Kind.NAME, value: 'gone' } }] } } : d)) } as DocumentNode;
    expect(validate(schema, doc).map((e) => e.message)).toEqual(['Cannot query field "gone" on type "VideoTask".']);
  });
});
