// Server-side prepared statements for drizzle's queries over postgres.js.
// drizzle runs every query as an unnamed statement, and postgres.js sends an
// unnamed statement with parameters in two round trips (it asks the server for
// the parameter types first) that the server parses and plans every time. A
// prepared statement costs that once per connection; afterwards one round trip.
// postgres.js never forgets a prepared statement, so only the first
// MAX_STATEMENTS distinct query texts are prepared (queries with variable-length
// IN lists have one text per length); later new texts run unnamed as before.
import type postgres from 'postgres';

export const MAX_STATEMENTS = 500;

type Sql = postgres.Sql;
type Unsafe = Sql['unsafe'];

/** Make `client` (and the transactions and savepoints begun on it) prepare what drizzle sends. */
export function preparingStatements(client: Sql, max = MAX_STATEMENTS): Sql {
  const texts = new Set<string>();
  const shouldPrepare = (query: string) => texts.has(query) || (texts.size < max && !!texts.add(query));

  const patch = (sql: Sql): Sql => {
    const unsafe: Unsafe = sql.unsafe.bind(sql);
    sql.unsafe = ((query: string, args?: unknown[], options?: postgres.UnsafeQueryOptions) => {
      // Without parameters a statement is sent in one round trip anyway (simple protocol).
      if (!args?.length || !shouldPrepare(query)) return unsafe(query, args as never, options);
      return unsafe(query, args as never, { ...options, prepare: true });
    }) as Unsafe;
    return sql;
  };

  type Scoped = (sql: postgres.TransactionSql) => unknown;
  const patchScope = (sql: postgres.TransactionSql): postgres.TransactionSql => {
    patch(sql as unknown as Sql);
    const savepoint = sql.savepoint.bind(sql) as (name: unknown, fn?: Scoped) => Promise<unknown>;
    sql.savepoint = ((name: unknown, fn?: Scoped) => {
      if (typeof name === 'function') return savepoint((s: postgres.TransactionSql) => (name as Scoped)(patchScope(s)));
      return savepoint(name, (s: postgres.TransactionSql) => fn!(patchScope(s)));
    }) as postgres.TransactionSql['savepoint'];
    return sql;
  };

  patch(client);
  const begin = client.begin.bind(client) as (options: unknown, fn?: Scoped) => Promise<unknown>;
  client.begin = ((options: unknown, fn?: Scoped) => {
    if (typeof options === 'function') return begin((s: postgres.TransactionSql) => (options as Scoped)(patchScope(s)));
    return begin(options, (s: postgres.TransactionSql) => fn!(patchScope(s)));
  }) as Sql['begin'];
  return client;
}
