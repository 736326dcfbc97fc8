// The runner against a fake provider, on Postgres (the suite: runner-suite.ts); skipped, with a
// message, when no Postgres answers (test/support/postgres.ts).
import { describe, it } from 'vitest';
import { databaseKinds } from '../support/postgres.js';
import { runnerSuite } from './runner-suite.js';

if ((await databaseKinds()).includes('postgres')) runnerSuite('postgres');
else describe.skip('runner on postgres', () => it('needs Postgres', () => {}));
