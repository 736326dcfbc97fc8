import { GraphQLError } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { isStorableTime } from '../db/timestamps.js';
import { builder } from './builder.js';

const badInput = (message: string) => new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });

/** Uploads arrive as web File objects, possibly from a fetch ponyfill: check the shape, not the class. */
function isFileLike(v: unknown): v is File {
  return !!v && typeof v === 'object' && typeof (v as File).arrayBuffer === 'function' && typeof (v as File).size === 'number';
}

/** graphql-scalars' RFC 3339 parsing, then the range a timestamptz column can store; errors are BAD_USER_INPUT. */
function parseDateTime(parse: () => unknown): Date {
  let d: unknown;
  try {
    d = parse();
  } catch (err) {
    throw badInput(`DateTime must be an RFC 3339 timestamp such as "2026-01-31T12:00:00Z": ${(err as Error).message}`);
  }
  if (!(d instanceof Date) || !isStorableTime(d.getTime())) throw badInput('DateTime must lie between the years 0001 and 9999 (UTC)');
  return d;
}

builder.scalarType('DateTime', {
  description: 'An RFC 3339 timestamp, e.g. "2026-01-31T12:00:00.000Z"; sent back in UTC.',
  serialize: (d) => (d instanceof Date ? d : new Date(d as string)).toISOString(),
  parseValue: (v) => parseDateTime(() => DateTimeResolver.parseValue(v)),
  parseLiteral: (ast) => parseDateTime(() => DateTimeResolver.parseLiteral(ast, undefined)),
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
