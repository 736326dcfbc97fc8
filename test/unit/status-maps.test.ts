// Every documented upstream status word maps to the reelay state the README
// tables promise, case-insensitively; unknown words map to nothing.
import { describe, expect, it } from 'vitest';
import { mapStatus as grok } from '../../src/providers/grok-imagine/status.js';
import { mapStatus as lightx2v } from '../../src/providers/lightx2v/status.js';
import { mapStatus as sora } from '../../src/providers/sora-ui/status.js';
import { mapStatus as tasksApi } from '../../src/providers/tasks-api/status.js';
import { mapStatus as videogen } from '../../src/providers/videogen-v1/status.js';

const cases: Array<[string, (w: string) => string | undefined, Record<string, string>]> = [
  ['videogen-v1', videogen, { pending: 'processing', processing: 'processing', completed: 'completed', failed: 'failed' }],
  ['grok-imagine', grok, { completed: 'completed' }],
  ['sora-ui', sora, { QUEUED: 'processing', PROCESSING: 'processing', COMPLETED: 'completed', FAILED: 'failed', CANCELLED: 'cancelled' }],
  ['lightx2v', lightx2v, { submitted: 'processing', running: 'processing', succeed: 'completed', failed: 'failed' }],
  ['tasks-api', tasksApi, { pending: 'processing', processing: 'processing', completed: 'completed', failed: 'failed' }],
];

describe.each(cases)('%s status words', (_kind, map, documented) => {
  it('map as documented, in any case and with stray spaces', () => {
    for (const [word, state] of Object.entries(documented)) {
      expect(map(word)).toBe(state);
      expect(map(` ${word.toUpperCase()} `)).toBe(state);
      expect(map(word.toLowerCase())).toBe(state);
    }
  });

  it('unknown words and prototype names map to nothing', () => {
    for (const word of ['exploded', '', 'constructor', '__proto__', 'toString']) expect(map(word)).toBeUndefined();
  });
});
