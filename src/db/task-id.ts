// Task ids: UUIDv7 (RFC 9562), time-ordered. Lists and the fair queue order
// tasks by (created_at, id); created_at has millisecond precision, and a create
// takes well under a millisecond, so ids must break ties in creation order:
// within one millisecond a 12-bit counter (started at a random value) counts
// up. Ids of tasks created in the same millisecond by different processes
// still compare at random (their order is not defined anyway). Time-ordered
// keys also keep the primary key index's inserts on its rightmost pages.
import { randomFillSync } from 'node:crypto';

let lastMs = -1;
let counter = 0;

// Random bytes drawn 4 KB at a time (as node's randomUUID does): one call into
// the CSPRNG per ~400 ids instead of two per id.
const pool = Buffer.alloc(4096);
let used = pool.length;
function random(n: number): Buffer {
  if (used + n > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const out = pool.subarray(used, used + n);
  used += n;
  return out;
}

export function newTaskId(now = Date.now()): string {
  let ms = now;
  if (ms > lastMs) {
    lastMs = ms;
    counter = random(2).readUInt16BE() & 0x7ff; // room to count up before the next millisecond
  } else {
    ms = lastMs;
    if (++counter > 0xfff) {
      // 2,048 or more in one millisecond: borrow the next one.
      ms = ++lastMs;
      counter = 0;
    }
  }
  const rand = random(8);
  const hex = ms.toString(16).padStart(12, '0');
  const a = (0x7000 | counter).toString(16);
  const b = ((rand[0]! & 0x3f) | 0x80).toString(16).padStart(2, '0') + rand.subarray(1).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${a}-${b.slice(0, 4)}-${b.slice(4, 16)}`;
}
