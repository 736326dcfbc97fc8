// The web console in a real browser (Debian's Chromium through playwright-core)
// against the real server and the local renderer: create a task and watch its
// progress bar move and its video play, cancel one, upload an image, see an
// API error next to its field; with keys required, the console asks for one and
// uses it over HTTP and WebSocket (and asks again once it is revoked), shows
// "live" only once its subscription is registered and misses no change made
// before that, pages through tasks and filters them.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';
import { chromiumAvailable, ensureConsoleBuilt, launchBrowser, TEST_OUTPUT } from '../support/browser.js';
import { makePng } from '../emulators/media.js';
import { postgresAvailable } from '../support/postgres.js';
import { SORA_UI_TEST_TOKEN, startSoraUiEmulator, type SoraUiEmulator } from '../emulators/sora-ui.js';
import { providerEntry } from '../e2e/helpers.js';
import { parseKeysArgs, runKeysCommand } from '../../src/keys/commands.js';

const run = chromiumAvailable();
// The console does not care which database: the local Postgres when it answers
// (a server starts on it in a fraction of the time a fresh PGlite takes), else PGlite.
const db = (await postgresAvailable()) ? 'postgres' : 'pglite';
/** For states that take the server a moment (the machine may be busy). */
const WAIT = { timeout: 20_000 };

/** Records, in the page, every value each task's progress bar shows (polling: preact sets `value` as a property, no attribute changes). */
const RECORD_PROGRESS = `
  window.__progress = {};
  setInterval(() => {
    for (const li of document.querySelectorAll('li[data-task-id]')) {
      const bar = li.querySelector('progress');
      if (!bar || !bar.hasAttribute('value')) continue;
      const seen = (window.__progress[li.dataset.taskId] ??= []);
      if (seen[seen.length - 1] !== bar.value) seen.push(bar.value);
    }
  }, 20);
`;

/** The list item of the task with this prompt. */
const item = (page: Page, prompt: string) => page.getByRole('listitem').filter({ hasText: prompt });

describe.runIf(run)('web console in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    ensureConsoleBuilt();
    fs.mkdirSync(TEST_OUTPUT, { recursive: true });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });

  describe('open server, local renderer', () => {
    let t: TestApp;
    let page: Page;
    let sora: SoraUiEmulator;
    const pageErrors: string[] = [];
    beforeAll(async () => {
      // Beside `local`, an emulated sora-ui upstream: its image models give still images.
      sora = await startSoraUiEmulator({ processingAfterMs: 150, completeAfterMs: 600 });
      t = await startTestApp({ db, providers: [{ id: 'local', kind: 'local' }, providerEntry('sora', 'sora-ui', sora.url, { apiKey: SORA_UI_TEST_TOKEN })], defaultProvider: 'local' });
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('pageerror', (e) => pageErrors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
      await page.addInitScript(RECORD_PROGRESS);
      await page.goto(`${t.url}/`);
      await page.getByRole('status').filter({ hasText: 'live' }).or(page.getByRole('textbox', { name: 'Prompt' })).first().waitFor();
    });
    afterAll(async () => {
      await page?.close();
      await t?.stop();
      await sora?.close();
    });

    it('creates a task: the progress bar moves and the finished video plays inline', async () => {
      const prompt = 'A red balloon drifting over the sea';
      await page.getByRole('textbox', { name: 'Prompt' }).fill(prompt);
      await page.getByLabel('Duration').fill('4');
      await page.getByRole('button', { name: 'Generate' }).click();

      const li = item(page, prompt);
      await li.waitFor();
      const video = li.locator('video');
      await video.waitFor({ timeout: 45_000 });
      const id = await li.getAttribute('data-task-id');
      // The bar showed real progress between 0 and 1 before it was full.
      const seen = await page.evaluate((id) => (window as unknown as { __progress: Record<string, number[]> }).__progress[id!] ?? [], id);
      expect(seen.some((v) => v > 0 && v < 1), `progress values seen: ${seen.join(', ')}`).toBe(true);
      expect(seen[seen.length - 1]).toBe(1);
      await expect.poll(() => li.getAttribute('data-status'), WAIT).toBe('COMPLETED');

      const src = await video.getAttribute('src');
      expect(src).toBe(`${t.url}/files/${id}/result.mp4`);
      expect(await li.getByRole('link', { name: 'Download' }).getAttribute('href')).toBe(src);
      // With its poster (the server's first-frame JPEG), and its sound: not muted.
      const poster = await video.getAttribute('poster');
      expect(poster).toBe(`${t.url}/files/${id}/poster.jpg`);
      expect(await page.evaluate(async (u) => (await fetch(u!)).headers.get('content-type'), poster)).toBe('image/jpeg');
      expect(await video.evaluate((v: HTMLVideoElement) => v.muted)).toBe(false);
      // It plays as a person plays it (a click on the video, whose controls start it): decoded frames and a moving playhead.
      await video.click();
      await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.readyState), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
      await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 15_000 }).toBeGreaterThan(0.2);
      expect(await video.evaluate((v: HTMLVideoElement) => v.error)).toBeNull();

      // The events as a timeline.
      await li.getByText('Details').click();
      const timeline = li.getByRole('list', { name: 'Events' });
      await expect.poll(() => timeline.getByRole('listitem').allTextContents(), WAIT).toEqual(expect.arrayContaining([expect.stringContaining('completed')]));
    });

    it('cancels a running task', async () => {
      const prompt = 'A long slow sunrise to cancel';
      await page.getByRole('textbox', { name: 'Prompt' }).fill(prompt);
      await page.getByLabel('Duration').fill('60');
      await page.getByRole('button', { name: 'Generate' }).click();
      const li = item(page, prompt);
      // A screen reader says which task the button is for: it is described by the task's prompt.
      const described = (b: HTMLElement) => (b.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent ?? '').join(' ');
      expect(await li.getByRole('button', { name: 'Cancel' }).evaluate(described)).toBe(prompt);
      await li.getByRole('button', { name: 'Cancel' }).click();
      await expect.poll(() => li.getAttribute('data-status'), WAIT).toBe('CANCELLED');
      // Finished: no Cancel any more, Retry and Delete instead.
      expect(await li.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
      for (const name of ['Retry', 'Delete']) expect(await li.getByRole('button', { name }).evaluate(described)).toBe(prompt);
      // Retry makes a new task (listed first, newest first); cancel that too, then delete both.
      await li.getByRole('button', { name: 'Retry' }).click();
      await expect.poll(() => item(page, prompt).count(), WAIT).toBe(2);
      const retried = item(page, prompt).first();
      await retried.getByRole('button', { name: 'Cancel' }).click();
      await expect.poll(() => retried.getAttribute('data-status'), WAIT).toBe('CANCELLED');
      for (const left of [1, 0]) {
        await item(page, prompt).first().getByRole('button', { name: 'Delete' }).click();
        await expect.poll(() => item(page, prompt).count(), WAIT).toBe(left);
      }
      const left = await t.gql('{ tasks(filter: { search: "sunrise" }) { totalCount } }');
      expect(left.data.tasks.totalCount).toBe(0);
    });

    it('uploads an image as a multipart request', async () => {
      const prompt = 'Ken Burns over an uploaded picture';
      await page.getByRole('textbox', { name: 'Prompt' }).fill(prompt);
      await page.getByLabel('Duration').fill('1');
      await page.getByLabel('Image file').setInputFiles({ name: 'tile.png', mimeType: 'image/png', buffer: makePng(64, 48, { rgb: [200, 60, 40] }) });
      // A preview of the picked file (a blob: URL the policy allows).
      const preview = page.getByRole('img', { name: 'Selected image' });
      await preview.waitFor();
      await expect.poll(() => preview.evaluate((img: HTMLImageElement) => img.naturalWidth), WAIT).toBe(64);
      await page.getByRole('button', { name: 'Generate' }).click();
      const li = item(page, prompt);
      await li.waitFor();
      const id = await li.getAttribute('data-task-id');
      const got = await t.gql('query($id: ID!) { task(id: $id) { inputImage { contentType url } } }', { id });
      expect(got.data.task.inputImage.contentType).toBe('image/png');
      // The form lets go of the file once the task exists.
      await preview.waitFor({ state: 'detached' });
    });

    it('shows a typed API error next to the field it names', async () => {
      await page.getByRole('textbox', { name: 'Prompt' }).fill('Too long for the local renderer');
      await page.getByLabel('Duration').fill('90');
      await page.getByRole('button', { name: 'Generate' }).click();
      const duration = page.getByLabel('Duration');
      await expect.poll(() => duration.getAttribute('aria-invalid'), WAIT).toBe('true');
      const errorId = await duration.getAttribute('aria-describedby');
      expect(await page.locator(`#${errorId}`).textContent()).toMatch(/duration/i);
      await page.getByLabel('Duration').fill('');
    });

    it('shows an image result as an image, with its download link', async () => {
      const prompt = 'A still life of pears';
      await page.getByRole('textbox', { name: 'Prompt' }).fill(prompt);
      await page.getByRole('combobox', { name: 'Provider', exact: true }).selectOption('sora');
      // The model list is the chosen provider's.
      const model = page.getByRole('combobox', { name: 'Model', exact: true });
      expect(await model.locator('option').allTextContents()).toContain('gemini-2.5-flash-imagen');
      await model.selectOption('gemini-2.5-flash-imagen');
      await page.getByRole('button', { name: 'Generate' }).click();
      const li = item(page, prompt);
      await expect.poll(() => li.getAttribute('data-status'), WAIT).toBe('COMPLETED');
      const img = li.getByRole('img', { name: prompt });
      await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.naturalWidth), WAIT).toBeGreaterThan(0);
      expect(await li.locator('video').count()).toBe(0);
      const id = await li.getAttribute('data-task-id');
      expect(await li.getByRole('link', { name: 'Download' }).getAttribute('href')).toBe(await img.getAttribute('src'));
      expect(await img.getAttribute('src')).toMatch(new RegExp(`^${t.url}/files/${id}/result\\.png$`));
      await page.getByRole('combobox', { name: 'Provider', exact: true }).selectOption('local');
    });

    it('shows stats and provider health, and was free of page errors; screenshot saved', async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      const panel = page.getByRole('region', { name: 'Operate' });
      await expect.poll(() => panel.getByRole('list', { name: 'Provider health' }).textContent(), WAIT).toContain('local');
      await expect.poll(() => panel.locator('.stats').textContent(), WAIT).toMatch(/completed\s*[1-9]/);
      // stats.series(bucket: HOUR, last: 24) of the real server: this hour's bar holds the completed renders.
      const chart = panel.getByRole('img', { name: 'Tasks over time: completed, failed' });
      await chart.waitFor();
      await expect.poll(async () => (await chart.locator('title').allTextContents()).join('\n'), WAIT).toMatch(/completed [1-9]/);
      await page.screenshot({ path: path.join(TEST_OUTPUT, 'console.png'), fullPage: true });
      expect(pageErrors, pageErrors.join('\n')).toEqual([]);
    });
  });

  describe('keys required, no runner', () => {
    let t: TestApp;
    let page: Page;
    const KEY = 'console-test-key-0123456789';
    beforeAll(async () => {
      t = await startTestApp({ db, env: { REELAY_API_KEYS: `alice:${KEY}` }, configure: (c) => (c.role = 'api') });
      for (let i = 0; i < 23; i++) {
        const r = await t.gql('mutation($p: String!) { createVideoTask(input: { prompt: $p }) { __typename } }', { p: `queued task ${i}${i === 7 ? ' zebra' : ''}` }, KEY);
        expect(r.data.createVideoTask.__typename).toBe('CreateVideoTaskSuccess');
      }
      page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    });
    afterAll(async () => {
      await page?.close();
      await t?.stop();
    });

    it('asks for a key, keeps it, and sends it over HTTP and the WebSocket', async () => {
      // The page's WebSocket goes through the test, which holds the task list's
      // `subscribe` until told: the server has not registered it meanwhile.
      let hold = true;
      const held: string[] = [];
      let acked = false;
      let toServer: ((message: string) => void) | undefined;
      await page.routeWebSocket(/\/graphql$/, (ws) => {
        const server = ws.connectToServer();
        toServer = (m) => server.send(m);
        ws.onMessage((m) => {
          if (hold && typeof m === 'string' && JSON.parse(m).type === 'subscribe') held.push(m);
          else server.send(m);
        });
        server.onMessage((m) => {
          if (typeof m === 'string' && JSON.parse(m).type === 'connection_ack') acked = true;
          ws.send(m);
        });
      });

      await page.goto(`${t.url}/`);
      await page.getByLabel('API key').fill('wrong-key');
      await page.getByRole('button', { name: 'Use key' }).click();
      await page.getByText('That key was refused').waitFor();
      await page.getByLabel('API key').fill(KEY);
      await page.getByRole('button', { name: 'Use key' }).click();
      await page.getByRole('textbox', { name: 'Prompt' }).waitFor();
      expect(await page.evaluate(() => localStorage.getItem('reelay.apiKey'))).toBe(KEY);

      // The socket is up with the key (acknowledged), the list read, the subscription sent but not registered:
      // not "live" yet (the old console said "live" here, and lost a change made now).
      const list = page.getByRole('list', { name: 'Tasks' });
      await expect.poll(() => list.locator(':scope > li').count(), WAIT).toBe(20);
      await expect.poll(() => acked && held.length, WAIT).toBe(1);
      expect(await page.getByRole('status').filter({ hasText: 'live' }).count()).toBe(0);
      // A task made by another client in that gap shows once the subscription is registered (the list is read again).
      await t.gql('mutation { createVideoTask(input: { prompt: "made by another client" }) { __typename } }', undefined, KEY);
      hold = false;
      for (const m of held.splice(0)) toServer!(m);
      await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
      const other = item(page, 'made by another client');
      await other.waitFor();
      // Live: a change made after "live" arrives over the subscription.
      const id = await other.getAttribute('data-task-id');
      await t.gql('mutation($id: ID!) { cancelTask(id: $id) { __typename } }', { id }, KEY);
      await expect.poll(() => other.getAttribute('data-status'), WAIT).toBe('CANCELLED');
      // A reload finds the key in local storage.
      await page.reload();
      await page.getByRole('textbox', { name: 'Prompt' }).waitFor();
    });

    it('loads more tasks as the list scrolls, and filters them', async () => {
      const list = page.getByRole('list', { name: 'Tasks' });
      await expect.poll(() => list.locator(':scope > li').count(), WAIT).toBe(20);
      await page.getByText('Load more').scrollIntoViewIfNeeded();
      await expect.poll(() => list.locator(':scope > li').count(), WAIT).toBe(24);
      await page.getByRole('searchbox', { name: 'Search' }).fill('zebra');
      await expect.poll(() => list.locator(':scope > li').allTextContents(), WAIT).toEqual([expect.stringContaining('queued task 7 zebra')]);
      await page.getByRole('searchbox', { name: 'Search' }).fill('');
      await page.getByRole('combobox', { name: 'Filter by status' }).selectOption('COMPLETED');
      await expect.poll(() => list.locator(':scope > li').count(), WAIT).toBe(0);
      await page.getByText('No tasks match these filters').waitFor();
      await page.getByRole('combobox', { name: 'Filter by status' }).selectOption('QUEUED');
      await expect.poll(() => list.locator(':scope > li').count(), WAIT).toBe(20);
      // Keyboard: Tab reaches the prompt and Enter on Generate submits (here: an empty prompt, refused by the form).
      await page.getByRole('textbox', { name: 'Prompt' }).fill('');
      await page.getByRole('button', { name: 'Generate' }).focus();
      await page.keyboard.press('Enter');
      await page.getByText('Write a prompt.').waitFor();
    });

    it('asks for a key again when its key is revoked while the page is open', async () => {
      const db = t.app.services.database.db;
      const created = await runKeysCommand(db, parseKeysArgs(['create', 'bob']));
      const bobKey = created.stdout.trim().split('\n').pop()!;
      const p = await browser.newPage();
      try {
        await p.addInitScript((key) => localStorage.setItem('reelay.apiKey', key), bobKey);
        await p.goto(`${t.url}/`);
        await p.getByRole('status').filter({ hasText: 'live' }).waitFor();
        expect((await runKeysCommand(db, parseKeysArgs(['revoke', 'bob']))).code).toBe(0);
        // The server closes the socket with 4403; the console asks for a key.
        await p.getByText('That key was refused').waitFor();
        expect(await p.getByRole('textbox', { name: 'Prompt' }).count()).toBe(0);
      } finally {
        await p.close();
      }
    });

    it('shows the time left where the server estimates it', async () => {
      // This server (no runner) has no estimate: its answers to the page's task lists are given one.
      const p = await browser.newPage();
      await p.addInitScript((key) => localStorage.setItem('reelay.apiKey', key), KEY);
      await p.route('**/graphql', async (route) => {
        if (!(route.request().postData() ?? '').includes('query Tasks')) return route.continue();
        const real = await route.fetch();
        const json = (await real.json()) as { data: { tasks: { nodes: object[] } } };
        json.data.tasks.nodes.forEach((n) => Object.assign(n, { estimatedSecondsRemaining: 65 }));
        return route.fulfill({ response: real, json });
      });
      try {
        await p.goto(`${t.url}/`);
        await p.getByRole('listitem').filter({ hasText: 'queued task 22' }).getByText('about 1:05 left').waitFor();
      } finally {
        await p.close();
      }
    });
  });
});
