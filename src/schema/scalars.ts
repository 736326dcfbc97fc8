import { GraphQLError, Kind } from 'graphql';
import { builder } from './builder.js';

const badInput = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

/** Uploads arrive as web File objects, possibly from a fetch ponyfill: check the shape, not the class. */
function isFileLike(v: unknown): v is File {
  return !!v && typeof v === 'object' && typeof (v as File).arrayBuffer === 'function' && typeof (v as File).size === 'number';
}

builder.scalarType('DateTime', {
  description: 'An ISO-8601 timestamp in UTC, e.g. "2026-01-31T12:00:00.000Z".',
  serialize: (d) => (d instanceof Date ? d : new Date(d as string)).toISOString(),
  parseValue: (v) => {
    const d = typeof v === 'string' ? new Date(v) : null;
    if (!d || Number.isNaN(d.getTime())) throw badInput('DateTime must be an ISO-8601 string');
    return d;
  },
  parseLiteral: (ast) => {
    const d = ast.kind === Kind.STRING ? new Date(ast.value) : null;
    if (!d || Number.isNaN(d.getTime())) throw badInput('DateTime must be an ISO-8601 string');
    return d;
  },
});

builder.scalarType('JSON', {
  description: 'Arbitrary JSON.',
  serialize: (v) => v,
  parseValue: (v) => v,
});

builder.scalarType('File', {
  description: 'A file sent with the GraphQL multipart request protocol.',
  serialize: () => {
    throw new GraphQLError('File is an input-only scalar');
  },
  parseLiteral: () => {
    throw badInput('File must be sent as a multipart upload');
  },
  parseValue: (v) => {
    if (!isFileLike(v)) throw badInput('File must be sent as a multipart upload');
    return v;
  },
});
