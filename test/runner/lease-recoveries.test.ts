// reelay_lease_recoveries_total counts tasks taken over from a holder whose
// lease lapsed, not tasks handed back on purpose (a shutdown's release).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseRecoveries } from '../../src/metrics.js';
import { claimDueTasks } from '../../src/runner/claim.js';
import { releaseTask } from '../../src/runner/transitions.js';
import { openTestStore, type TestStore } from '../support/store.js';

const recovered = async () => (await leaseRecoveries.get()).values[0]?.value ?? 0;
const providers = [{ id: 'fake', maxConcurrency: 4 }];

describe('lease recoveries', () => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore('pglite');
  });
  afterAll(async () => {
    await store?.close();
  });

  it('counts a task whose holder’s lease lapsed, once, and not a released one', async () => {
    const start = await recovered();
    const lapsed = await store.addTask();
    const released = await store.addTask();
    const claimed = await claimDueTasks(store.database.db, { owner: 'dead-runner', leaseMs: 200, limit: 2, providers });
    expect(claimed.map((t) => t.id).sort()).toEqual([lapsed.id, released.id].sort());
    await releaseTask(store.database.db, released.id, 'dead-runner');
    expect(await recovered()).toBe(start);
    await new Promise((r) => setTimeout(r, 300));
    const taken = await claimDueTasks(store.database.db, { owner: 'heir', leaseMs: 30_000, limit: 10, providers });
    expect(taken.map((t) => t.id).sort()).toEqual([lapsed.id, released.id].sort());
    expect(await recovered()).toBe(start + 1);
    // Held now: nothing more to take over.
    expect(await claimDueTasks(store.database.db, { owner: 'other', leaseMs: 30_000, limit: 10, providers })).toEqual([]);
    expect(await recovered()).toBe(start + 1);
  });

  it('does not count a runner taking back its own task after its lease lapsed', async () => {
    const start = await recovered();
    const mine = await store.addTask();
    expect((await claimDueTasks(store.database.db, { owner: 'slow-runner', leaseMs: 200, limit: 1, providers })).map((t) => t.id)).toEqual([mine.id]);
    await new Promise((r) => setTimeout(r, 300));
    expect((await claimDueTasks(store.database.db, { owner: 'slow-runner', leaseMs: 30_000, limit: 10, providers })).map((t) => t.id)).toEqual([mine.id]);
    expect(await recovered()).toBe(start);
  });
});
