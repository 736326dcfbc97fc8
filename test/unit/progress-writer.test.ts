import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.js';
import { createLogger } from '../../src/logger.js';
import { ProgressWriter } from '../../src/runner/progress-writer.js';

describe('ProgressWriter.exclusive', () => {
  it('runs one write at a time; urgent writes go before the others waiting', async () => {
    const writer = new ProgressWriter({} as Db, 'runner', createLogger('silent'));
    const order: string[] = [];
    let running = 0;
    const job = (name: string) => async () => {
      running++;
      expect(running).toBe(1);
      await new Promise((r) => setTimeout(r, 5));
      order.push(name);
      running--;
      return name;
    };
    const all = [
      writer.exclusive(job('progress 1')),
      writer.exclusive(job('lease renewal')),
      writer.exclusive(job('progress 2')),
      writer.exclusive(job('completions'), { urgent: true }),
      writer.exclusive(job('submissions'), { urgent: true }),
    ];
    expect(await Promise.all(all)).toEqual(['progress 1', 'lease renewal', 'progress 2', 'completions', 'submissions']);
    // The first was already running; the urgent ones overtook the rest, in their own order.
    expect(order).toEqual(['progress 1', 'completions', 'submissions', 'lease renewal', 'progress 2']);
  });

  it('a failing write rejects its own caller only', async () => {
    const writer = new ProgressWriter({} as Db, 'runner', createLogger('silent'));
    const bad = writer.exclusive(async () => {
      throw new Error('deadlock detected');
    });
    const good = writer.exclusive(async () => 'ok');
    await expect(bad).rejects.toThrow('deadlock detected');
    await expect(good).resolves.toBe('ok');
  });
});
