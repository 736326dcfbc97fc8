// A process that holds an embedded data directory's lock until it is killed
// (run with `node --import tsx test/support/hold-data-dir.ts <dir>`).
import { lockDataDir } from '../../src/db/lock.js';

await lockDataDir(process.argv[2]!, 'test holder');
console.log('locked');
setInterval(() => {}, 60_000);
