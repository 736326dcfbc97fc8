// The CLI's progress output without a server: which changes make a line, and
// how status, queue position and ETA read.
import { describe, expect, it } from 'vitest';
import type { VideoTask } from '../../src/client/index.js';
import { describeState, lineView } from '../../src/cli/progress-view.js';
import { defaultFileName } from '../../src/cli/download.js';
import { seconds, table } from '../../src/cli/format.js';

const ID = '01a23392-cfc4-71d6-b7c4-a4769ef2123f';
const task = (over: Partial<VideoTask> & Record<string, unknown>): VideoTask => ({ id: ID, status: 'QUEUED', progress: null, queuePosition: null, result: null, ...over }) as VideoTask;

describe('CLI progress output', () => {
  it('describes status, progress, queue position and (when the API sends it) ETA', () => {
    expect(describeState(task({ status: 'QUEUED', queuePosition: 3 }))).toBe('QUEUED · position 3');
    expect(describeState(task({ status: 'PROCESSING', progress: 0.421 }))).toBe('PROCESSING 42%');
    expect(describeState(task({ status: 'PROCESSING', progress: 0.5, estimatedSecondsRemaining: 75 }))).toBe('PROCESSING 50% · ETA 1m15s');
    expect(describeState(task({ status: 'PROCESSING', progress: 0.5 }), false)).toBe('PROCESSING');
    expect(describeState(task({ status: 'COMPLETED', progress: 1, estimatedSecondsRemaining: 0 }))).toBe('COMPLETED');
  });

  it('prints a line per status, queue position and tenth of progress, not per tick', () => {
    let out = '';
    const view = lineView({ write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream);
    for (const t of [
      task({ status: 'QUEUED', queuePosition: 2 }),
      task({ status: 'QUEUED', queuePosition: 2 }),
      task({ status: 'QUEUED', queuePosition: 1 }),
      task({ status: 'PROCESSING', progress: 0 }),
      task({ status: 'PROCESSING', progress: 0.03 }),
      task({ status: 'PROCESSING', progress: 0.12 }),
      task({ status: 'PROCESSING', progress: 0.19 }),
      task({ status: 'COMPLETED', progress: 1 }),
    ]) view.update(t);
    expect(out.trim().split('\n')).toEqual([`${ID} QUEUED · position 2`, `${ID} QUEUED · position 1`, `${ID} PROCESSING 0%`, `${ID} PROCESSING 12%`, `${ID} COMPLETED`]);
  });

  it('names the download after the task id and the content type', () => {
    const result = { url: `http://127.0.0.1:4000/files/${ID}/result.webm`, contentType: 'video/webm', sizeBytes: 1, durationSeconds: 1, width: 1, height: 1, thumbnailUrl: null, fileExpired: false };
    expect(defaultFileName(task({ status: 'COMPLETED', result }))).toBe(`${ID}.webm`);
    expect(defaultFileName(task({ status: 'COMPLETED', result: { ...result, contentType: 'video/mp4' } }))).toBe(`${ID}.mp4`);
  });

  it('formats tables and durations', () => {
    expect(table(['A', 'BB'], [['xxx', 'y'], ['z', '']])).toBe('A    BB\nxxx  y\nz');
    expect([seconds(5), seconds(75), seconds(3700)]).toEqual(['5s', '1m15s', '1h01m']);
  });
});
