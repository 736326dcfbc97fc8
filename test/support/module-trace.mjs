// Loaded with `node --import` (NODE_OPTIONS) by tests that check what a
// process loads: appends the URL of every module it loads to the file named by
// REELAY_MODULE_TRACE, one per line.
import { register } from 'node:module';

if (process.env.REELAY_MODULE_TRACE) {
  register(
    'data:text/javascript,' +
      encodeURIComponent(`
import fs from 'node:fs';
const file = ${JSON.stringify(process.env.REELAY_MODULE_TRACE)};
export async function load(url, context, next) {
  fs.appendFileSync(file, url + '\\n');
  return next(url, context);
}`),
  );
}
