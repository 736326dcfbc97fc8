// The runner against a fake provider, on PGlite (the suite: runner-suite.ts).
import { runnerSuite } from './runner-suite.js';

runnerSuite('pglite');
