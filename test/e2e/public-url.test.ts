// Upstreams that take images only as URLs get uploads through reelay's own
// public file URL when REELAY_PUBLIC_URL is set.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { PNG_DATA_URL, providerEntry, run } from './helpers.js';

describe('uploads for URL-only upstreams', () => {
  let emu: VideogenV1Emulator;
  let t: TestApp;
  beforeAll(async () => {
    emu = await startVideogenV1Emulator({ processingAfterMs: 50, completeAfterMs: 200 });
    t = await startTestApp({ env: { REELAY_PUBLIC_URL: 'https://reelay.example.com' }, providers: [providerEntry('vg', 'videogen-v1', emu.url)], defaultProvider: 'vg' });
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
  });

  it('sends reelay’s public URL of the stored image as image_url', async () => {
    const { id, final } = await run(t, { prompt: 'From an upload', image: { base64: PNG_DATA_URL } });
    expect(final.status).toBe('COMPLETED');
    expect(emu.tasks.get(final.providerTaskId!)!.imageUrl).toBe(`https://reelay.example.com/files/${id}/input.png`);
    // Result links use the public URL too.
    expect(final.result!.url).toBe(`https://reelay.example.com/files/${id}/result.mp4`);
  });
});
