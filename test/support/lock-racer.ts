// A process that races for embedded data directory locks on command (run with
// `node --import tsx test/support/lock-racer.ts`): each stdin line `go <dir>`
// tries lockDataDir(<dir>) and prints one JSON line, `won`, `refused` (with the
// error's name and message) or `failed`; `release` lets go of what it holds.
import readline from 'node:readline';
import { lockDataDir, type DataDirLock } from '../../src/db/lock.js';

const held: DataDirLock[] = [];
const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

for await (const line of readline.createInterface({ input: process.stdin })) {
  const [command, dir] = line.split(' ');
  if (command === 'go') {
    try {
      held.push(await lockDataDir(dir!, 'racer'));
      say({ result: 'won' });
    } catch (err) {
      const e = err as Error;
      say({ result: e.name === 'DataDirLockedError' ? 'refused' : 'failed', name: e.name, message: e.message });
    }
  } else if (command === 'release') {
    for (const lock of held.splice(0)) await lock.release();
    say({ result: 'released' });
  }
}
