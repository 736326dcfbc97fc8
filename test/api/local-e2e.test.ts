// The whole product through its real surfaces: HTTP, graphql-ws and /files,
// with the built-in local renderer, on PGlite and on Postgres.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseKinds } from '../support/postgres.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { subscribe, wsClient } from '../support/ws.js';

const kinds = await databaseKinds();

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id status provider queuePosition prompt params } }
      ... on Error { code message }
      ... on ValidationError { field }
      ... on UnsupportedError { field }
    }
  }
`;

const WATCH = /* GraphQL */ `
  subscription Watch($id: ID!) {
    taskUpdated(id: $id) { id status progress result { url contentType sizeBytes durationSeconds width height upstreamUrl } error { code message } }
  }
`;

describe.each(kinds)('local provider end to end on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ db: kind });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('create → subscribe → COMPLETED with a playable MP4 served by /files', async () => {
    const created = await t.gql(CREATE, { input: { prompt: 'A paper boat on a rainy street', durationSeconds: 4, width: 1280, height: 720, seed: 7 } });
    expect(created.errors).toBeUndefined();
    const res = created.data.createVideoTask;
    expect(res.__typename).toBe('CreateVideoTaskSuccess');
    expect(res.task).toMatchObject({ provider: 'local', prompt: 'A paper boat on a rainy street', params: { durationSeconds: 4, width: 1280, height: 720, seed: 7 } });

    const client = wsClient(t.wsUrl);
    const sub = subscribe(client, WATCH, { id: res.task.id }, (d) => d.taskUpdated);
    const done = await sub.waitFor((v) => v.status === 'COMPLETED', 60_000);
    await sub.completed;
    await client.dispose();

    // The first event is the current state, progress arrived live and only grew.
    expect(['QUEUED', 'PROCESSING']).toContain(sub.values[0].status);
    const progress = sub.values.map((v) => v.progress).filter((p): p is number => typeof p === 'number');
    expect(progress.some((p) => p > 0 && p < 1)).toBe(true);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);

    expect(done.result).toMatchObject({ contentType: 'video/mp4', width: 1280, height: 720, upstreamUrl: null });
    expect(done.result.durationSeconds).toBeCloseTo(4, 0);
    expect(done.result.url).toMatch(new RegExp(`^${t.url}/files/${res.task.id}/result\\.mp4$`));
    const file = await fetch(done.result.url);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('video/mp4');
    const bytes = Buffer.from(await file.arrayBuffer());
    expect(bytes.length).toBe(done.result.sizeBytes);
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');

    // Range and HEAD, as video players use them.
    const head = await fetch(done.result.url, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    const part = await fetch(done.result.url, { headers: { range: 'bytes=4-7' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 4-7/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer()).toString('latin1')).toBe('ftyp');
    const unsatisfiable = await fetch(done.result.url, { headers: { range: `bytes=${bytes.length + 10}-` } });
    expect(unsatisfiable.status).toBe(416);

    // History as a user sees it.
    const q = await t.gql(`query($id: ID!) { task(id: $id) { status completedAt startedAt events { status progress message at } } }`, { id: res.task.id });
    const events = q.data.task.events;
    expect(events[0].status).toBe('QUEUED');
    expect(events.at(-1).status).toBe('COMPLETED');
    expect(q.data.task.startedAt).not.toBeNull();
  });

  it('cancels a running local render; the subscription ends CANCELLED and terminal states stay', async () => {
    const created = await t.gql(CREATE, { input: { prompt: 'A very long render', durationSeconds: 60, width: 1920, height: 1080 } });
    const id = created.data.createVideoTask.task.id;
    const client = wsClient(t.wsUrl);
    const sub = subscribe(client, WATCH, { id }, (d) => d.taskUpdated);
    await sub.waitFor((v) => v.status === 'PROCESSING' && (v.progress ?? 0) > 0, 60_000);
    const cancel = await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename ... on CancelTaskSuccess { task { id status } } ... on Error { code message } } }`, { id });
    expect(cancel.data.cancelTask).toMatchObject({ __typename: 'CancelTaskSuccess', task: { status: 'CANCELLED' } });
    await sub.waitFor((v) => v.status === 'CANCELLED');
    await sub.completed;
    await client.dispose();

    const again = await t.gql(`mutation($id: ID!) { cancelTask(id: $id) { __typename ... on Error { code } } }`, { id });
    expect(again.data.cancelTask).toEqual({ __typename: 'InvalidStateError', code: 'TASK_FINISHED' });
    // The render really stopped: the task stays CANCELLED with no result.
    const q = await t.gql(`query($id: ID!) { task(id: $id) { status result { url } } }`, { id });
    expect(q.data.task).toEqual({ status: 'CANCELLED', result: null });
  });

  it('image-to-video from a base64 PNG', async () => {
    const { execFileSync } = await import('node:child_process');
    const ffmpeg = (await import('@ffmpeg-installer/ffmpeg')).default.path;
    const png = execFileSync(ffmpeg, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', 'pipe:1']);
    const created = await t.gql(CREATE.replace('params }', 'params }'), { input: { prompt: 'Slow push-in', durationSeconds: 1, width: 320, height: 240, image: { base64: `data:image/png;base64,${png.toString('base64')}` } } });
    const id = created.data.createVideoTask.task.id;
    const client = wsClient(t.wsUrl);
    const sub = subscribe(client, WATCH, { id }, (d) => d.taskUpdated);
    const done = await sub.waitFor((v) => v.status === 'COMPLETED' || v.status === 'FAILED', 60_000);
    await client.dispose();
    expect(done.error).toBeNull();
    expect(done.result.contentType).toBe('video/mp4');
    const q = await t.gql(`query($id: ID!) { task(id: $id) { inputImage { url contentType } } }`, { id });
    expect(q.data.task.inputImage.contentType).toBe('image/png');
    const img = await fetch(q.data.task.inputImage.url);
    expect(Buffer.from(await img.arrayBuffer()).equals(png)).toBe(true);
  });

  it('deleteTask removes a finished task and its files', async () => {
    const created = await t.gql(CREATE, { input: { prompt: 'Short one', durationSeconds: 1, width: 160, height: 90 } });
    const id = created.data.createVideoTask.task.id;
    const client = wsClient(t.wsUrl);
    const sub = subscribe(client, WATCH, { id }, (d) => d.taskUpdated);
    const done = await sub.waitFor((v) => v.status === 'COMPLETED', 60_000);
    await client.dispose();
    const del = await t.gql(`mutation($id: ID!) { deleteTask(id: $id) { __typename ... on DeleteTaskSuccess { id } ... on Error { code } } }`, { id });
    expect(del.data.deleteTask).toEqual({ __typename: 'DeleteTaskSuccess', id });
    expect((await fetch(done.result.url)).status).toBe(404);
    const q = await t.gql(`query($id: ID!) { task(id: $id) { id } }`, { id });
    expect(q.data.task).toBeNull();
    const again = await t.gql(`mutation($id: ID!) { deleteTask(id: $id) { __typename ... on Error { code } } }`, { id });
    expect(again.data.deleteTask).toEqual({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
  });
});
