// Every visible change of a task bumps its version, and the runner judges the
// rows it hears about by it: a row older than the one it claimed is old news.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getTasksByIds } from '../../src/db/read-tasks.js';
import type { TaskRow } from '../../src/db/schema.js';
import { publishTaskChanged } from '../../src/events/bus.js';
import { TaskFeed } from '../../src/events/task-feed.js';
import { createLogger } from '../../src/logger.js';
import { HealthMonitor } from '../../src/providers/health.js';
import { ProviderRegistry } from '../../src/providers/registry.js';
import { renewLeases } from '../../src/db/renew-leases.js';
import { claimDueTasks } from '../../src/runner/claim.js';
import { Runner } from '../../src/runner/runner.js';
import { cancelTaskRow, recordProgress, transition } from '../../src/runner/transitions.js';
import { FakeProvider, fakeConfig } from '../support/fake-provider.js';
import { databaseKinds } from '../support/postgres.js';
import { openTestStore, type TestStore } from '../support/store.js';
import { fakeMp4 } from '../emulators/media.js';
import { until } from '../support/wait.js';

const log = createLogger('silent');

describe.each(await databaseKinds())('task versions on %s', (kind) => {
  let store: TestStore;
  let dir: string;
  const stops: Array<() => Promise<void> | void> = [];

  beforeEach(async () => {
    store = await openTestStore(kind);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reelay-versions-'));
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('create, claim, progress, re-claim of an orphan and cancel each bump the version and change_xid', async () => {
    const db = store.database.db;
    const created = await store.addTask();
    expect(created.version).toBe(1);
    const steps: TaskRow[] = [created];
    const [claimed] = await claimDueTasks(db, { owner: 'r1', leaseMs: 1, limit: 1, providers: [{ id: 'fake', maxConcurrency: 1 }] });
    steps.push(claimed!);
    steps.push((await recordProgress(db, created.id, 'r1', { progress: 0.4 }, false))!);
    // A heartbeat changes nothing anyone sees: no new version.
    await renewLeases(db, 'r1', [created.id], 1);
    expect((await store.get(created.id)).version).toBe(3);
    await new Promise((r) => setTimeout(r, 5)); // let the 1 ms lease lapse
    const [orphan] = await claimDueTasks(db, { owner: 'r2', leaseMs: 30_000, limit: 1, providers: [{ id: 'fake', maxConcurrency: 1 }] });
    expect(orphan?.leaseOwner).toBe('r2');
    steps.push(orphan!);
    steps.push((await cancelTaskRow(db, created.id))!);
    expect(steps.map((s) => s.version)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(steps.map((s) => s.changeXid)).size).toBe(steps.length);
  });

  it('the runner ignores a row loaded before its claim instead of giving the task up', async () => {
    const db = store.database.db;
    const task = await store.addTask();
    // An orphan at the upstream: its runner died and the lease lapsed.
    await transition(db, task.id, { status: 'PROCESSING', providerTaskId: 'up-9', startedAt: new Date(), leaseOwner: 'dead', leaseExpiresAt: new Date(Date.now() - 1000) }, { from: ['QUEUED'] });
    const before = await store.get(task.id);
    // The first load after the claim returns the row as it was before it (a load that began earlier).
    let stale = true;
    const feed = new TaskFeed(store.events, async (ids) => {
      const rows = await getTasksByIds(db, ids);
      if (!stale || !ids.includes(task.id)) return rows;
      stale = false;
      return rows.map((r) => (r.id === task.id ? before : r));
    }, log);
    stops.push(() => feed.close());
    const provider = new FakeProvider();
    const file = path.join(dir, 'out.mp4');
    fs.writeFileSync(file, fakeMp4('stale row'));
    // The job runs on (its progress loads no rows for the runner) until the stale row was served.
    provider.pollScript = [{ state: 'processing', progress: 0.3 }];
    const registry = ProviderRegistry.of([{ config: fakeConfig('fake', { pollIntervalMs: 50 }), provider }]);
    // A long lease: a runner that wrongly gave the task up would not get it back within the test.
    const runner = new Runner({ db, events: store.events, feed, registry, health: new HealthMonitor(registry, db, log), filesDir: dir, log, leaseMs: 60_000, concurrency: 4, maxAttempts: 3, idleMs: 100 });
    runner.start();
    stops.push(() => runner.stop(2000));
    // Once the runner holds the task, a change elsewhere makes the feed load it: the stale row.
    await until(() => runner.activeTaskIds, (ids) => ids.includes(task.id));
    await publishTaskChanged(db, [task.id]);
    await until(() => stale, (s) => !s);
    provider.pollScript = [{ state: 'processing', progress: 0.6 }, { state: 'completed', result: { source: { kind: 'file', path: file }, mediaType: 'VIDEO' } }];
    const done = await store.waitFor(task.id, (t) => t.status === 'COMPLETED', 15_000);
    expect(stale).toBe(false); // the old row was served
    expect(done.providerTaskId).toBe('up-9');
    expect(provider.submits).toHaveLength(0);
  });
});
