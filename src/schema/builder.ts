// The Pothos builder: plugins and scalars in one place.
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import type { Context } from './context.js';

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    File: { Input: File; Output: never };
  };
}>({
  plugins: [ErrorsPlugin, RelayPlugin],
  defaultFieldNullability: false,
  errors: { defaultTypes: [] },
  relay: {
    // A node's id is the task's UUID as it is everywhere else in the API, not a
    // base64 "Type:id" global id: VideoTask is the only Node type.
    encodeGlobalID: (_typename, id) => String(id),
    decodeGlobalID: (globalID) => ({ typename: 'VideoTask', id: globalID }),
    nodeTypeOptions: { description: 'An object with a stable id (Relay). The id is the task UUID.', resolveType: () => 'VideoTask' },
    // `node(id)` is defined in queries.ts (owner checks, malformed ids → null); no `nodes`.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
