// Outcome health shared by several processes: failures add up in the
// database, a success anywhere resets them, and each process judges health
// from the shared count.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/client.js';
import { readProviderHealth } from '../../src/db/provider-health.js';
import { createLogger } from '../../src/logger.js';
import { HealthMonitor } from '../../src/providers/health.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { FakeProvider, fakeConfig } from '../support/fake-provider.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';

const log = createLogger('silent');

describe.each(await databaseKinds())('provider health on %s', (kind) => {
  let store: TestStore;
  let other: Database;
  /** Two "processes": monitors on their own connections to one database. */
  let monitors: (threshold: number) => [HealthMonitor, HealthMonitor];

  beforeEach(async () => {
    store = await openTestStore(kind);
    other = kind === 'postgres' ? await openDatabase({ databaseUrl: store.url }) : store.database;
    const registry = ProviderRegistry.of([{ config: fakeConfig('fake'), provider: new FakeProvider() }]);
    monitors = (failureThreshold) => [new HealthMonitor(registry, store.database.db, log, { failureThreshold }), new HealthMonitor(registry, other.db, log, { failureThreshold })];
  });
  afterEach(async () => {
    if (other !== store.database) await other.close();
    await store.close();
  });

  const storedCount = async () => (await readProviderHealth(store.database.db)).find((r) => r.providerId === 'fake')?.consecutiveFailures;

  it('failures recorded concurrently by two processes add up', async () => {
    const [a, b] = monitors(100);
    await Promise.all(Array.from({ length: 15 }, () => [a.recordOutcome('fake', false, 'refused (a)'), b.recordOutcome('fake', false, 'refused (b)')]).flat());
    expect(await storedCount()).toBe(30);
  });

  it('each process judges health from the shared count', async () => {
    const [a, b] = monitors(3);
    await a.recordOutcome('fake', false, 'connection refused');
    await a.recordOutcome('fake', false, 'connection refused');
    expect(a.get('fake').healthy).toBe(true);
    await b.recordOutcome('fake', false, 'connection refused');
    expect(b.get('fake')).toMatchObject({ healthy: false, message: 'connection refused' });
    await a.refresh();
    expect(a.get('fake').healthy).toBe(false);
  });

  it('a success in one process resets the failures another one counted', async () => {
    const [a, b] = monitors(3);
    await a.recordOutcome('fake', false, 'connection refused');
    await a.recordOutcome('fake', false, 'connection refused');
    await b.recordOutcome('fake', true);
    expect(await storedCount()).toBe(0);
    await a.recordOutcome('fake', false, 'connection refused');
    expect(await storedCount()).toBe(1);
    expect(a.get('fake').healthy).toBe(true);
  });
});
