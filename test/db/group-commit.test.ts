// GroupCommit: at most `lanes` writes in flight; calls arriving meanwhile go
// out together (at most `max` per write); a write's error fails its members.
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/db/group-commit.js';

function recorder() {
  const batches: number[][] = [];
  const write = async (items: number[]) => {
    batches.push(items);
    await new Promise((r) => setTimeout(r, 5));
    if (items.includes(-1)) throw new Error('bad batch');
    return items.map((i) => ({ ok: true as const, value: i * 2 }));
  };
  return { batches, write };
}

describe('GroupCommit', () => {
  it('sends a call at once with a lane free, groups the rest, caps a group at max', async () => {
    const { batches, write } = recorder();
    const group = new GroupCommit(write, 100, 1);
    const items = Array.from({ length: 250 }, (_, i) => i);
    expect(await Promise.all(items.map((i) => group.submit(i)))).toEqual(items.map((i) => i * 2));
    expect(batches.map((b) => b.length)).toEqual([1, 100, 100, 49]);
    expect(batches.flat()).toEqual(items);
    // Idle again: the next call goes out alone.
    expect(await group.submit(7)).toBe(14);
    expect(batches.at(-1)).toEqual([7]);
  });

  it('keeps at most `lanes` writes in flight', async () => {
    const { batches, write } = recorder();
    const group = new GroupCommit(write, 100, 2);
    await Promise.all(Array.from({ length: 50 }, (_, i) => group.submit(i)));
    expect(batches.map((b) => b.length)).toEqual([1, 1, 48]);
  });

  it('a write that throws fails the members of its batch only', async () => {
    const { write } = recorder();
    const group = new GroupCommit(write, 100, 1);
    const results = await Promise.allSettled([group.submit(1), group.submit(-1), group.submit(3), group.submit(4)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
    expect(await group.submit(5)).toBe(10);
  });
});
