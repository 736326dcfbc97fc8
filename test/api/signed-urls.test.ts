// Expiring file links through the real server: with REELAY_FILE_URL_TTL_SECONDS
// and REELAY_FILE_URL_SECRET set, result.url, thumbnailUrl, inputImage.url and
// the links upstreams get are signed, and /files/ refuses unsigned, tampered and
// expired ones with 403; without them links stay plain capability links.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { linkExpiry, signFilePath, verifyFileLink } from '../../src/storage/signed-urls.js';
import { startVideogenV1Emulator, type VideogenV1Emulator } from '../emulators/videogen-v1.js';
import { PNG_DATA_URL, providerEntry, run } from '../e2e/helpers.js';
import { databaseKinds } from '../support/postgres.js';
import { startTestApp, type TestApp } from '../support/app.js';

const kinds = await databaseKinds();
const SECRET = 'test-secret-of-at-least-32-characters!';
const SIGNED = { REELAY_FILE_URL_TTL_SECONDS: '3600', REELAY_FILE_URL_SECRET: SECRET };

const RESULT = /* GraphQL */ `
  query($id: ID!) { task(id: $id) { inputImage { url } result { url thumbnailUrl } } }
`;

async function links(t: TestApp, id: string): Promise<{ url: string; thumbnailUrl: string; inputImage: string | null }> {
  const res = await t.gql(RESULT, { id });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return { ...res.data.task.result, inputImage: res.data.task.inputImage?.url ?? null };
}

async function status(url: string, init?: RequestInit): Promise<{ status: number; code?: string; type: string | null }> {
  const res = await fetch(url, init);
  const type = res.headers.get('content-type');
  if (res.status === 403 && init?.method !== 'HEAD') {
    const body = (await res.json()) as { errors: Array<{ extensions: { code: string } }> };
    return { status: res.status, code: body.errors[0]!.extensions.code, type };
  }
  await res.arrayBuffer();
  return { status: res.status, type };
}

const withoutQuery = (url: string) => url.split('?')[0]!;

describe('configuration of signed links', () => {
  const load = (env: Record<string, string>) => () => loadConfig({ REELAY_DATA_DIR: '/tmp/reelay-signed-config', ...env }, [], '/tmp');

  it('needs both variables or neither, a 32+ character secret and a positive whole TTL', () => {
    expect(load({})().fileUrls).toBeUndefined();
    expect(load(SIGNED)().fileUrls).toEqual({ ttlSeconds: 3600, secret: SECRET });
    for (const env of [{ REELAY_FILE_URL_TTL_SECONDS: '60' }, { REELAY_FILE_URL_SECRET: SECRET }] as Array<Record<string, string>>) {
      expect(load(env)).toThrow(ConfigError);
      expect(load(env)).toThrow(/^invalid configuration in the environment: REELAY_FILE_URL_\w+ is set but REELAY_FILE_URL_\w+ is not; signed file links need both \(or neither\)$/);
    }
    expect(load({ ...SIGNED, REELAY_FILE_URL_SECRET: 'short' })).toThrow(/REELAY_FILE_URL_SECRET must be at least 32 characters/);
    for (const ttl of ['0', '-5', '1.5', 'soon']) expect(load({ ...SIGNED, REELAY_FILE_URL_TTL_SECONDS: ttl }), ttl).toThrow(/REELAY_FILE_URL_TTL_SECONDS must be/);
  });

  it('the secret never shows in an error message', () => {
    const err = (() => {
      try {
        load({ REELAY_FILE_URL_SECRET: SECRET })();
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).not.toContain(SECRET);
  });
});

describe('link expiry and verification', () => {
  it('rounds the expiry up to a tenth of the TTL: one link for a while, valid at least the TTL, at most 1.1 × TTL', () => {
    const t0 = Date.UTC(2026, 0, 1, 12, 0, 7) + 345;
    const e = linkExpiry(t0, 3600);
    expect(e % 360).toBe(0);
    expect(e - Math.floor(t0 / 1000)).toBeGreaterThanOrEqual(3600);
    expect(e - Math.floor(t0 / 1000)).toBeLessThanOrEqual(3960);
    expect(linkExpiry(t0 + 60_000, 3600)).toBe(e);
    const signing = { secret: SECRET, ttlSeconds: 3600 };
    expect(signFilePath(signing, '/files/x/result.mp4', { nowMs: t0 })).toBe(signFilePath(signing, '/files/x/result.mp4', { nowMs: t0 + 60_000 }));
    expect(linkExpiry(t0, 1)).toBe(Math.floor(t0 / 1000) + 1);
  });

  it('accepts its own links until they expire, nothing else', () => {
    const signing = { secret: SECRET, ttlSeconds: 60 };
    const now = Date.now();
    const signed = signFilePath(signing, '/files/a/result.mp4', { nowMs: now });
    const [p, q] = signed.split('?') as [string, string];
    expect(verifyFileLink(SECRET, p, `?${q}`, now)).toBe('ok');
    expect(verifyFileLink(SECRET, p, `?${q}&cachebust=1`, now)).toBe('ok');
    expect(verifyFileLink(SECRET, p, `?${q}`, now + 100_000)).toBe('expired');
    expect(verifyFileLink(SECRET, '/files/a/poster.jpg', `?${q}`, now)).toBe('invalid');
    expect(verifyFileLink('another-secret-of-32-characters-or-more', p, `?${q}`, now)).toBe('invalid');
    expect(verifyFileLink(SECRET, p, '', now)).toBe('unsigned');
    expect(verifyFileLink(SECRET, p, '?expires=1', now)).toBe('invalid');
    expect(verifyFileLink(SECRET, p, `?${q.replace(/expires=\d+/, (m) => `${m}0`)}`, now)).toBe('invalid');
  });
});

describe.each(kinds)('signed links through the server on %s', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ db: kind, env: SIGNED });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('result.url and thumbnailUrl are signed and served; unsigned, tampered, misplaced and expired links get 403', async () => {
    const { id, final } = await run(t, { prompt: 'A signed lighthouse', durationSeconds: 1, width: 320, height: 240 }, 60_000);
    expect(final.status).toBe('COMPLETED');
    const { url, thumbnailUrl } = await links(t, id);
    expect(url).toMatch(new RegExp(`^${t.url}/files/${id}/result\\.mp4\\?expires=\\d+&signature=[A-Za-z0-9_-]{43}$`));
    expect(thumbnailUrl).toMatch(new RegExp(`^${t.url}/files/${id}/poster\\.jpg\\?expires=\\d+&signature=[A-Za-z0-9_-]{43}$`));
    const expires = Number(new URL(url).searchParams.get('expires'));
    expect(expires - Date.now() / 1000).toBeGreaterThanOrEqual(3599);
    expect(expires - Date.now() / 1000).toBeLessThanOrEqual(3960);
    // The subscription's link is made when it is sent, with the same rounding: the same string.
    expect(final.result!.url).toBe(url);

    expect(await status(url)).toMatchObject({ status: 200, type: 'video/mp4' });
    expect(await status(url, { method: 'HEAD' })).toMatchObject({ status: 200 });
    expect(await status(url, { headers: { range: 'bytes=0-3' } })).toMatchObject({ status: 206 });
    expect(await status(thumbnailUrl)).toMatchObject({ status: 200, type: 'image/jpeg' });

    expect(await status(withoutQuery(url))).toEqual({ status: 403, code: 'FILE_URL_INVALID', type: 'application/json; charset=utf-8' });
    expect(await status(withoutQuery(url), { method: 'HEAD' })).toMatchObject({ status: 403 });
    // A poster request without a valid link runs no ffmpeg: refused first.
    expect(await status(withoutQuery(thumbnailUrl))).toMatchObject({ status: 403, code: 'FILE_URL_INVALID' });
    const sig = new URL(url).searchParams.get('signature')!;
    const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
    expect(await status(url.replace(sig, flipped))).toMatchObject({ status: 403, code: 'FILE_URL_INVALID' });
    expect(await status(url.replace(`expires=${expires}`, `expires=${expires + 3600}`))).toMatchObject({ status: 403, code: 'FILE_URL_INVALID' });
    // The signature of one file does not open another.
    expect(await status(withoutQuery(thumbnailUrl) + new URL(url).search)).toMatchObject({ status: 403, code: 'FILE_URL_INVALID' });
    // Signed with this server's secret but for a moment long past: expired.
    const old = signFilePath({ secret: SECRET, ttlSeconds: 60 }, `/files/${id}/result.mp4`, { nowMs: Date.now() - 3_600_000 });
    expect(await status(`${t.url}${old}`)).toMatchObject({ status: 403, code: 'FILE_URL_EXPIRED' });
  });
});

describe('a tiny TTL', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { REELAY_FILE_URL_TTL_SECONDS: '3', REELAY_FILE_URL_SECRET: SECRET } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a link stops working once expired, and reading the task again hands out a fresh one', async () => {
    const { id, final } = await run(t, { prompt: 'Short-lived', durationSeconds: 1, width: 160, height: 120 }, 60_000);
    expect(final.status).toBe('COMPLETED');
    const first = (await links(t, id)).url;
    const deadline = Date.now() + 20_000;
    let seen = await status(first);
    while (seen.status === 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await status(first);
    }
    expect(seen).toMatchObject({ status: 403, code: 'FILE_URL_EXPIRED' });
    // A fresh link lives at least the TTL (3 s); on a loaded machine the read and the fetch
    // can still straddle it, so a fresh link gets a few tries (each one a new link).
    let fresh = (await links(t, id)).url;
    expect(fresh).not.toBe(first);
    let served = await status(fresh);
    for (let i = 0; i < 3 && served.status === 403; i++) {
      fresh = (await links(t, id)).url;
      served = await status(fresh);
    }
    expect(served).toMatchObject({ status: 200, type: 'video/mp4' });
  });
});

describe('input image links for upstreams', () => {
  let emu: VideogenV1Emulator;
  let t: TestApp;
  beforeAll(async () => {
    emu = await startVideogenV1Emulator({ processingAfterMs: 50, completeAfterMs: 200 });
    t = await startTestApp({
      env: { REELAY_PUBLIC_URL: 'https://reelay.example.com', REELAY_FILE_URL_TTL_SECONDS: '5', REELAY_FILE_URL_SECRET: SECRET },
      providers: [providerEntry('vg', 'videogen-v1', emu.url, { timeoutMs: 120_000 })],
      defaultProvider: 'vg',
    });
  });
  afterAll(async () => {
    await t?.stop();
    await emu?.close();
  });

  it('are signed for at least the task timeout, and /files/ accepts them', async () => {
    const { id, final } = await run(t, { prompt: 'From a signed upload', image: { base64: PNG_DATA_URL } });
    expect(final.status).toBe('COMPLETED');
    const sent = emu.tasks.get(final.providerTaskId!)!.imageUrl!;
    expect(sent).toMatch(new RegExp(`^https://reelay\\.example\\.com/files/${id}/input\\.png\\?expires=\\d+&signature=[A-Za-z0-9_-]{43}$`));
    // The provider's timeoutMs (120 s) outlasts REELAY_FILE_URL_TTL_SECONDS (5 s): the link lives at least as long.
    expect(Number(new URL(sent).searchParams.get('expires')) - Date.now() / 1000).toBeGreaterThan(100);
    const local = sent.replace('https://reelay.example.com', t.url);
    expect(await status(local)).toMatchObject({ status: 200, type: 'image/png' });
    expect(await status(withoutQuery(local))).toMatchObject({ status: 403, code: 'FILE_URL_INVALID' });
    // What clients read is signed with the configured TTL.
    const { inputImage, url } = await links(t, id);
    expect(inputImage).toMatch(/^https:\/\/reelay\.example\.com\/files\/.+\/input\.png\?expires=\d+&signature=/);
    expect(await status(inputImage!.replace('https://reelay.example.com', t.url))).toMatchObject({ status: 200, type: 'image/png' });
    expect(await status(url.replace('https://reelay.example.com', t.url))).toMatchObject({ status: 200, type: 'video/mp4' });
  });
});

describe('without the variables', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('links stay plain capability links, served with or without a query', async () => {
    const { id, final } = await run(t, { prompt: 'Unsigned', durationSeconds: 1, width: 160, height: 120 }, 60_000);
    expect(final.status).toBe('COMPLETED');
    const { url, thumbnailUrl } = await links(t, id);
    expect(url).toBe(`${t.url}/files/${id}/result.mp4`);
    expect(thumbnailUrl).toBe(`${t.url}/files/${id}/poster.jpg`);
    expect(await status(url)).toMatchObject({ status: 200, type: 'video/mp4' });
    expect(await status(`${url}?expires=1&signature=nonsense`)).toMatchObject({ status: 200 });
    expect(await status(thumbnailUrl)).toMatchObject({ status: 200, type: 'image/jpeg' });
  });
});
