// The runner's turn gate: a burst of wake-ups (polls that came due together,
// submissions of a batch) goes through a few per turn of the event loop, in
// arrival order, with I/O served between the turns; nobody waits while quiet.
import { describe, expect, it } from 'vitest';
import { TurnGate } from '../../src/runner/turn-gate.js';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe('TurnGate', () => {
  it('lets a burst through perTurn at a time, first come first served, a turn of the event loop apart', async () => {
    const gate = new TurnGate(3);
    const order: number[] = [];
    const all = Array.from({ length: 8 }, (_, i) => gate.pass().then(() => order.push(i)));
    await Promise.resolve();
    expect(order).toEqual([0, 1, 2]);
    expect(gate.waiting).toBe(5);
    // Each later group waits for a turn of its own (setImmediate: the loop's I/O is polled before it).
    await nextTurn();
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    await nextTurn();
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await Promise.all(all);
    expect(gate.waiting).toBe(0);
  });

  it('passes at once while a turn has room, and has room again in the next turn', async () => {
    const gate = new TurnGate(2);
    let passed = 0;
    void gate.pass().then(() => passed++);
    void gate.pass().then(() => passed++);
    void gate.pass().then(() => passed++);
    await Promise.resolve();
    expect(passed).toBe(2);
    await nextTurn();
    await Promise.resolve();
    expect(passed).toBe(3);
    // Quiet again: a newcomer passes without waiting for a turn.
    await nextTurn();
    await nextTurn();
    let quick = false;
    void gate.pass().then(() => (quick = true));
    await Promise.resolve();
    expect(quick).toBe(true);
  });
});
