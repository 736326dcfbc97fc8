// gql.tada set up for reelay's schema: documents written with `graphql()` get
// result and variable types derived from the committed schema.graphql (through
// the generated graphql-env.d.ts, `npm run client:types`), never hand-written.
import { initGraphQLTada } from 'gql.tada';
import type { introspection } from './graphql-env.js';

export const graphql = initGraphQLTada<{
  introspection: introspection;
  scalars: {
    /** RFC 3339, in UTC. */
    DateTime: string;
    JSON: unknown;
    /** A multipart upload: a Blob (or File) in the variables. */
    File: Blob;
  };
}>();

export type { ResultOf, VariablesOf } from 'gql.tada';
