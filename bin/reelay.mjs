#!/usr/bin/env node
// The `reelay` command (package.json "bin"; `npx reelay` in a checkout): runs
// the compiled CLI in dist/, which `npm install` builds (the prepare script).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/cli/main.js')) throw e;
  process.stderr.write('reelay: dist/ is missing; run `npm run build` in the reelay checkout\n');
  process.exit(2);
}
process.exit(await cli.main(process.argv));
