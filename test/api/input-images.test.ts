// Input images are decoded (bounded) when the task is created: a PNG header with
// corrupt data, or far too many pixels, is refused as data before anything is
// stored, so it can never jam the renderer. The check happens before the database.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePng, pngIccChunk, pngTextChunk, TINY_PNG } from '../emulators/media.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { holdDecodeSlots } from '../support/decode-slots.js';

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateVideoTaskInput!) {
    createVideoTask(input: $input) {
      __typename
      ... on CreateVideoTaskSuccess { task { id inputImage { url contentType } } }
      ... on Error { code message }
      ... on ValidationError { field }
      ... on RateLimitedError { retryAfterSeconds }
    }
  }
`;

describe('input images at creation', () => {
  let t: TestApp;

  beforeAll(async () => {
    // Defaults: 10 MB, 40 megapixels; a short wait for a decode slot; the API alone (no runner renders anything).
    t = await startTestApp({ db: 'pglite', env: { REELAY_IMAGE_CHECK_WAIT_MS: '200' }, configure: (c) => (c.role = 'api') });
  });
  afterAll(async () => {
    await t?.stop();
  });

  async function upload(png: Buffer) {
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: CREATE, variables: { input: { prompt: 'from an upload', image: { file: null } } } }));
    form.set('map', JSON.stringify({ 0: ['variables.input.image.file'] }));
    form.set('0', new Blob([new Uint8Array(png)], { type: 'image/png' }), 'image.png');
    // A non-simple header, as browsers' CSRF protection asks of multipart requests.
    const res = await fetch(`${t.url}/graphql`, { method: 'POST', headers: { 'x-graphql-yoga-csrf': 'reelay-test' }, body: form });
    return ((await res.json()) as { data: { createVideoTask: Record<string, unknown> } }).data.createVideoTask;
  }
  const base64 = async (png: Buffer) => (await t.gql(CREATE, { input: { prompt: 'from base64', image: { base64: `data:image/png;base64,${png.toString('base64')}` } } })).data.createVideoTask;
  const stored = () => (fs.existsSync(t.config.filesDir) ? fs.readdirSync(t.config.filesDir) : []);
  const taskCount = async () => (await t.gql('{ tasks(first: 1) { totalCount } }')).data.tasks.totalCount as number;

  it('refuses a PNG with a valid header and corrupt data with INVALID_IMAGE', async () => {
    const corrupt = makePng(640, 480, { corrupt: true });
    expect(await upload(corrupt)).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_IMAGE', field: 'image.file', message: expect.stringMatching(/does not decode as a PNG image/) });
    expect(await base64(corrupt)).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_IMAGE', field: 'image.base64' });
    expect(stored()).toEqual([]);
    expect(await taskCount()).toBe(0);
  });

  it('refuses a 16000×16000 PNG by its pixel count (IMAGE_TOO_MANY_PIXELS), without decoding it', async () => {
    const huge = makePng(16000, 16000, { bitDepth: 1, colorType: 0 }); // tiny file, 256 megapixels
    const t0 = Date.now();
    expect(await upload(huge)).toMatchObject({ __typename: 'ValidationError', code: 'IMAGE_TOO_MANY_PIXELS', field: 'image.file', message: expect.stringContaining('16000x16000') });
    expect(await base64(huge)).toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS', field: 'image.base64' });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(stored()).toEqual([]);
    expect(await taskCount()).toBe(0);
  });

  it('refuses an image wider or taller than 16384 pixels (IMAGE_TOO_MANY_PIXELS)', async () => {
    expect(await upload(makePng(16385, 1))).toMatchObject({ __typename: 'ValidationError', code: 'IMAGE_TOO_MANY_PIXELS', field: 'image.file', message: expect.stringContaining('at most 16384 pixels wide') });
    expect(await base64(makePng(1, 16385))).toMatchObject({ code: 'IMAGE_TOO_MANY_PIXELS', field: 'image.base64' });
    expect(stored()).toEqual([]);
    expect(await taskCount()).toBe(0);
  });

  it('refuses a PNG decompression bomb (a zTXt or iCCP chunk inflating to 16 MiB) with INVALID_IMAGE', async () => {
    for (const chunk of [pngTextChunk('zTXt', 'Comment', Buffer.alloc(16 * 1024 * 1024)), pngIccChunk(Buffer.alloc(16 * 1024 * 1024))]) {
      const bomb = makePng(8, 8, { chunks: [chunk] });
      expect(await upload(bomb)).toMatchObject({ __typename: 'ValidationError', code: 'INVALID_IMAGE', field: 'image.file', message: `image has a ${chunk.type} chunk that inflates to more than 1048576 bytes` });
      expect(await base64(bomb)).toMatchObject({ code: 'INVALID_IMAGE', field: 'image.base64' });
    }
    expect(stored()).toEqual([]);
    expect(await taskCount()).toBe(0);
  });

  it('answers IMAGE_CHECK_BUSY (RateLimitedError) after a bounded wait when every decode slot stays busy', async () => {
    const slots = holdDecodeSlots();
    try {
      const t0 = Date.now();
      expect(await upload(TINY_PNG)).toMatchObject({ __typename: 'RateLimitedError', code: 'IMAGE_CHECK_BUSY', retryAfterSeconds: 1, message: expect.stringMatching(/too many images are being checked at once/) });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(stored()).toEqual([]);
      expect(await taskCount()).toBe(0);
    } finally {
      await slots.release();
    }
    expect(await upload(TINY_PNG)).toMatchObject({ __typename: 'CreateVideoTaskSuccess' });
  });

  it('stores an image that decodes, under its real type', async () => {
    const ok = await upload(TINY_PNG);
    expect(ok).toMatchObject({ __typename: 'CreateVideoTaskSuccess', task: { inputImage: { contentType: 'image/png' } } });
    const id = (ok.task as { id: string }).id;
    expect(fs.readdirSync(path.join(t.config.filesDir, id))).toEqual(['input.png']); // no temporary file left
  });
});
