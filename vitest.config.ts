import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  // graphql 16 ships CJS (main) and ESM (module); Node loads the CJS build for
  // yoga and Pothos, so our own sources must get the same one (one realm).
  resolve: { alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }] },
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Two files at a time on a 2-core machine: most test time is waiting on servers,
    // not CPU (vitest's default would run one file at a time here).
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
