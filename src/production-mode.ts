// Imported first by main.ts, before anything loads graphql: the compiled server
// (dist/*.js, what `npm start` runs) is in production mode unless NODE_ENV says
// otherwise. graphql-js reads NODE_ENV once, when it is loaded; outside
// production every `instanceof` test it makes that comes out false (isListType
// on an object type, and so on, several per field resolved) also compares the
// prototypes' names to warn about a second copy of graphql: 3 % of the CPU of
// a `tasks(first: 50)` request (a profile of bench/throughput.ts). Nothing
// else reelay uses behaves differently (graphql-yoga only looks for
// "development" and "test"). `npm run dev` runs the TypeScript sources with
// tsx and keeps the checks.
if (process.env.NODE_ENV === undefined && import.meta.url.endsWith('.js')) process.env.NODE_ENV = 'production';

export {};
