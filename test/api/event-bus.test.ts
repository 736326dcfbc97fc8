// REELAY_EVENTS_URL: change events over Redis pub/sub or NATS instead of
// Postgres NOTIFY. Two app instances on one Postgres, each with its own bus
// connection: what one writes reaches the other's subscribers and runner, no
// pg_notify is issued, a subscriber whose bus connection was cut while a change
// was published re-syncs when it reconnects, and a bad URL stops the start.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { cancelTaskRow, recordProgressBatch, transition } from '../../src/runner/transitions.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTempDatabase, postgresAvailable, type TempDatabase } from '../support/postgres.js';
import { startReelayProcess } from '../support/processes.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { subscribe, wsClient } from '../support/ws.js';

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

const hasPostgres = await postgresAvailable();
const buses = [
  { scheme: 'redis', port: 6379, up: await answers(6379) },
  { scheme: 'nats', port: 4222, up: await answers(4222) },
];

const CREATE = `mutation($p: String!) { createVideoTask(input: { prompt: $p }) { ... on CreateVideoTaskSuccess { task { id } } } }`;

for (const bus of buses) {
  describe.skipIf(!hasPostgres || !bus.up)(`events over ${bus.scheme}`, () => {
    let db: TempDatabase;
    let proxy: TcpProxy;
    let a: TestApp;
    let b: TestApp;

    beforeAll(async () => {
      db = await createTempDatabase();
      proxy = await startTcpProxy({ host: '127.0.0.1', port: bus.port });
      // `a` reaches the bus through a proxy the test can cut.
      a = await startTestApp({ databaseUrl: db.url, env: { REELAY_EVENTS_URL: `${bus.scheme}://127.0.0.1:${proxy.port}` }, configure: (c) => (c.role = 'api') });
      // `b` runs a runner that only claims when woken (or after a minute).
      b = await startTestApp({ databaseUrl: db.url, env: { REELAY_EVENTS_URL: `${bus.scheme}://127.0.0.1:${bus.port}` }, configure: (c) => (c.role = 'api'), runnerIdleMs: 60_000 });
    });
    afterAll(async () => {
      await a?.stop();
      await b?.stop();
      await proxy?.close();
      await db?.drop();
    });

    it('a create on one instance reaches subscribers and wakes runners of the other, without pg_notify', async () => {
      expect(a.app.services.events.bus).toBe(bus.scheme);
      const client = wsClient(a.wsUrl);
      const all = subscribe(client, `subscription { tasksUpdated { id status } }`, {}, (d) => d.tasksUpdated);
      // The subscription is live once a change of ours arrives through it.
      const woken = new Promise<void>((resolve) => b.app.services.events.onWake(() => resolve()));
      let id = '';
      for (let i = 0; !id; i++) {
        const created = await b.gql(CREATE, { p: `over ${bus.scheme} ${i}` });
        const cid: string = created.data.createVideoTask.task.id;
        if (await all.waitFor((v) => v.id === cid, 2_000).catch(() => null)) id = cid;
      }
      const fromA = await a.gql(CREATE, { p: 'wakes b' });
      await woken;
      const one = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status } }`, { id: fromA.data.createVideoTask.task.id }, (d) => d.taskUpdated);
      await one.waitFor((v) => v.status === 'QUEUED');
      // Written through the runner's own handle (workDb), as runner transitions are.
      await cancelTaskRow(b.app.services.database.workDb, fromA.data.createVideoTask.task.id);
      await one.waitFor((v) => v.status === 'CANCELLED');
      await client.dispose();
      for (const t of [a, b]) expect(t.queries.filter((q) => /pg_notify/i.test(q))).toEqual([]);
    });

    it("a runner's progress batch reaches the other's subscribers, marked as progress only", async () => {
      const id: string = (await a.gql(CREATE, { p: 'progress over the bus' })).data.createVideoTask.task.id;
      const work = b.app.services.database.workDb;
      await transition(work, id, { status: 'PROCESSING', leaseOwner: 'bus-runner' }, { from: ['QUEUED'] });
      const client = wsClient(a.wsUrl);
      const one = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status progress } }`, { id }, (d) => d.taskUpdated);
      await one.waitFor((v) => v.status === 'PROCESSING');
      const heard: boolean[] = [];
      const off = a.app.services.events.onTask((tid, _mark, progress) => tid === id && void heard.push(progress));
      await recordProgressBatch(work, 'bus-runner', [{ taskId: id, progress: 0.5, upstreamStatus: 'running', message: null, nextPollAt: new Date() }]);
      await one.waitFor((v) => v.progress === 0.5);
      off();
      // The create's and the transition's notices (not progress-only) may still be on their way
      // over the bus when the listener starts; the batch's own notice is the one progress-only one.
      expect(heard.filter((p) => p)).toEqual([true]);
      await client.dispose();
      expect(b.queries.filter((q) => /pg_notify/i.test(q))).toEqual([]);
    });

    it('a subscriber whose bus connection was cut re-syncs what was published meanwhile', async () => {
      const created = await a.gql(CREATE, { p: 'missed while away' });
      const id: string = created.data.createVideoTask.task.id;
      const client = wsClient(a.wsUrl);
      const one = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status } }`, { id }, (d) => d.taskUpdated);
      const all = subscribe(client, `subscription { tasksUpdated { id status } }`, {}, (d) => d.tasksUpdated);
      await one.waitFor((v) => v.status === 'QUEUED');
      // Make sure tasksUpdated is live too before the cut: the server may register it after
      // `one`'s first value, and it has no first value of its own, so probe until one arrives.
      for (let i = 0, live = false; !live; i++) {
        const probe: string = (await b.gql(CREATE, { p: `probe ${i}` })).data.createVideoTask.task.id;
        await cancelTaskRow(b.app.services.database.db, probe);
        live = Boolean(await all.waitFor((v) => v.id === probe && v.status === 'CANCELLED', 2_000).catch(() => null));
      }

      proxy.hold();
      proxy.dropAll();
      await proxy.nextHeld();
      // Published while `a` has no bus connection: only a re-sync can bring it.
      await cancelTaskRow(b.app.services.database.db, id);
      await new Promise((r) => setTimeout(r, 300));
      expect(one.values.map((v) => v.status)).toEqual(['QUEUED']);
      proxy.release();
      await one.waitFor((v) => v.status === 'CANCELLED', 20_000);
      await all.waitFor((v) => v.id === id && v.status === 'CANCELLED', 20_000);
      await one.completed;
      await client.dispose();
    });
  });
}

describe('REELAY_EVENTS_URL that cannot work', () => {
  it('an unknown scheme is a configuration error', () => {
    expect(() => loadConfig({ REELAY_EVENTS_URL: 'amqp://127.0.0.1:5672' }, [], '/nonexistent')).toThrow(/REELAY_EVENTS_URL must be a redis:\/\/, rediss:\/\/ or nats:\/\/ URL/);
  });

  it.each(['redis', 'nats'])('an unreachable %s server stops the start with one line and exit code 2', { timeout: 90_000 }, async (scheme) => {
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const child = startReelayProcess([], { PORT: '0', REELAY_DATA_DIR: `/tmp/reelay-bus-${process.pid}-${scheme}`, REELAY_EVENTS_URL: `${scheme}://127.0.0.1:${port}` });
    expect(await child.exited).toBe(2);
    // Log lines (JSON, e.g. the database's start-up) may precede it; the refusal is one plain line.
    const lines = child.output.join('').trim().split('\n').filter((l) => !l.startsWith('{'));
    expect(lines).toHaveLength(1);
    const out = lines[0]!;
    expect(out).toMatch(new RegExp(`^reelay: cannot connect to the event bus at ${scheme}://127\\.0\\.0\\.1:${port}: `));
  });
});
