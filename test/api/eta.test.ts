// estimatedSecondsRemaining / estimatedCompletionAt through the real server,
// on PGlite and Postgres, in front of an upstream emulator that takes a fixed
// time per task: null without history and when finished; once a few tasks of
// the provider completed, within 25 % of the time that really was left, for
// running tasks and for a task queued behind them; on a list page (one
// run-times statement per page) and to a subscriber.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { databaseKinds } from '../support/postgres.js';
import { startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';
import { createOk, providerEntry } from '../e2e/helpers.js';
import { subscribe, wsClient } from '../support/ws.js';
import { until } from '../support/wait.js';

const kinds = await databaseKinds();
/** The emulator's fixed run time (from its task's creation to completed). */
const RUN_MS = 4000;
const FIELDS = 'id status provider estimatedSecondsRemaining estimatedCompletionAt startedAt completedAt';
const READ = `query($id: ID!) { task(id: $id) { ${FIELDS} } }`;
const LIST = `{ tasks(first: 50) { nodes { ${FIELDS} } } }`;

interface View {
  id: string;
  status: string;
  provider: string;
  estimatedSecondsRemaining: number | null;
  estimatedCompletionAt: string | null;
  startedAt: string | null;
  completedAt: string | null;
}
interface Sample extends View {
  /** When the answer was current (the middle of the request). */
  at: number;
}

const FINISHED = ['COMPLETED', 'FAILED', 'CANCELLED'];
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(kinds)('estimated time left on %s', (kind) => {
  let emu: VideogenV1Emulator;
  let t: TestApp;
  beforeAll(async () => {
    emu = await startVideogenV1Emulator({ processingAfterMs: 100, completeAfterMs: RUN_MS });
    t = await startTestApp({
      db: kind,
      providers: [providerEntry('vg', 'videogen-v1', emu.url, { maxConcurrency: 2 }), providerEntry('vg-new', 'videogen-v1', emu.url, { maxConcurrency: 2 })],
      defaultProvider: 'vg',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
  });

  async function read(id: string): Promise<View> {
    const res = await t.gql(READ, { id });
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    return res.data.task;
  }

  async function untilFinished(ids: string[]): Promise<void> {
    await until(() => Promise.all(ids.map(read)), (vs) => vs.every((v) => FINISHED.includes(v.status)), 30_000, 100);
  }

  /** List pages of every task until `ids` are finished, each node stamped with when it was read. */
  async function sampleUntilFinished(ids: string[]): Promise<Sample[]> {
    const samples: Sample[] = [];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const before = Date.now();
      const sent = t.queries.length;
      const res = await t.gql(LIST);
      const at = (before + Date.now()) / 2;
      // A page of active tasks reads the run times once for all of them (one statement per page at most).
      expect(t.queries.slice(sent).filter((q) => q.includes('percentile_cont')).length).toBeLessThanOrEqual(1);
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      const nodes = (res.data.tasks.nodes as View[]).filter((n) => ids.includes(n.id));
      samples.push(...nodes.map((n) => ({ ...n, at })));
      if (nodes.length === ids.length && nodes.every((n) => FINISHED.includes(n.status))) return samples;
      if (Date.now() > deadline) throw new Error('tasks did not finish');
      await pause(100);
    }
  }

  /** Every sample of `id` in `status`, as [estimated, actual] seconds left. */
  function estimates(samples: Sample[], id: string, status: string): Array<[number, number]> {
    const end = Date.parse(samples.findLast((s) => s.id === id)!.completedAt!);
    return samples
      .filter((s) => s.id === id && s.status === status)
      .map((s) => {
        expect(s.estimatedSecondsRemaining, `${status} with history`).not.toBeNull();
        // The completion time is the same estimate, from when it was made.
        expect(Math.abs(Date.parse(s.estimatedCompletionAt!) - (s.at + s.estimatedSecondsRemaining! * 1000))).toBeLessThan(1000);
        return [s.estimatedSecondsRemaining!, (end - s.at) / 1000];
      });
  }

  it('null without history, null when finished; within 25 % for running and queued tasks once history exists', async () => {
    // No COMPLETED task at the provider yet: no estimate.
    const first = await createOk(t, { prompt: 'first of its kind' });
    const fresh = await read(first);
    expect(['QUEUED', 'PROCESSING']).toContain(fresh.status);
    expect(fresh).toMatchObject({ estimatedSecondsRemaining: null, estimatedCompletionAt: null });
    await untilFinished([first]);
    expect(await read(first)).toMatchObject({ status: 'COMPLETED', estimatedSecondsRemaining: null, estimatedCompletionAt: null });

    // Two more for history: three run times of about RUN_MS each (the first ran cold; the median is of the others).
    const history = [await createOk(t, { prompt: 'history 1' }), await createOk(t, { prompt: 'history 2' })];
    // A subscriber sees the estimate too (each event's own), from the first completion on.
    const client = wsClient(t.wsUrl);
    const watch = subscribe(client, `subscription($id: ID!) { taskUpdated(id: $id) { status estimatedSecondsRemaining estimatedCompletionAt } }`, { id: history[1] }, (d) => d.taskUpdated);
    await watch.waitFor((v) => v.status === 'COMPLETED');
    await client.dispose();
    expect(watch.values.some((v) => v.status === 'PROCESSING')).toBe(true);
    expect(watch.values.filter((v) => v.status === 'PROCESSING').every((v) => v.estimatedSecondsRemaining > 0 && v.estimatedCompletionAt !== null)).toBe(true);
    expect(watch.values.at(-1)).toEqual({ status: 'COMPLETED', estimatedSecondsRemaining: null, estimatedCompletionAt: null });
    await untilFinished(history);

    // Two run at once (maxConcurrency 2), the third waits for a slot; a provider without history stays null.
    const [a, b, c] = [await createOk(t, { prompt: 'run a' }), await createOk(t, { prompt: 'run b' }), await createOk(t, { prompt: 'queued c' })];
    const other = await createOk(t, { prompt: 'elsewhere', provider: 'vg-new' });
    const samples = await sampleUntilFinished([a, b, c, other]);

    expect(samples.filter((s) => s.id === other).every((s) => s.estimatedSecondsRemaining === null && s.estimatedCompletionAt === null)).toBe(true);
    expect(samples.filter((s) => FINISHED.includes(s.status)).every((s) => s.estimatedSecondsRemaining === null && s.estimatedCompletionAt === null)).toBe(true);

    // The first sample of each phase, the most time left: within 25 % of what was really left.
    const phases = { 'a running': estimates(samples, a, 'PROCESSING'), 'b running': estimates(samples, b, 'PROCESSING'), 'c queued': estimates(samples, c, 'QUEUED'), 'c running': estimates(samples, c, 'PROCESSING') };
    for (const [phase, list] of Object.entries(phases)) {
      expect(list.length, `${phase} was seen`).toBeGreaterThan(0);
      const [estimated, actual] = list[0]!;
      expect(Math.abs(estimated - actual) / actual, `${phase}: estimated ${estimated} s, took ${actual} s`).toBeLessThanOrEqual(0.25);
    }
    // Later samples count down with it.
    for (const [phase, list] of Object.entries(phases)) if (list.length > 1) expect(list.at(-1)![0], phase).toBeLessThan(list[0]![0]);
  });
});
