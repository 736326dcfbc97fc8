// Preloaded into the fan-out bench's servers (with --expose-gc): SIGUSR2 runs a
// full garbage collection and writes process.memoryUsage() to
// <tmpdir>/reelay-fanout-memory-<pid>.json, so both servers are measured the same way.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  fs.writeFileSync(path.join(os.tmpdir(), `reelay-fanout-memory-${process.pid}.json`), JSON.stringify(process.memoryUsage()));
});
