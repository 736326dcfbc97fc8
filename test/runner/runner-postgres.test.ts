// The runner against a fake provider, on Postgres (the suite: runner-suite.ts); skipped, with a
// message, when no Postgres answers (test/support/postgres.ts).
import { postgresAvailable } from '../support/postgres.js';
import { runnerSuite } from './runner-suite.js';

runnerSuite('postgres', !(await postgresAvailable()));
