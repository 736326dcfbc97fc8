// Webhook pieces on their own: the URL and input checks, the configuration,
// the body (task view from a stored row), and safePost against a local server.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { taskRowFromJson } from '../../src/db/claim-webhook-deliveries.js';
import { generateWebhookSecret } from '../../src/db/key-webhooks.js';
import { safePost, WEBHOOK_FETCH } from '../../src/net/safe-fetch.js';
import { verifyFileLink } from '../../src/storage/signed-urls.js';
import { UpstreamError } from '../../src/providers/errors.js';
import { deliveryBody } from '../../src/runner/webhook-deliverer.js';
import { taskWebhook, webhookUrlProblem } from '../../src/tasks/webhook-input.js';
import { ValidationError } from '../../src/errors.js';

describe('webhook URL and input checks', () => {
  it('accepts public http(s) URLs and host names; refuses other schemes, credentials, private literals and metadata names', () => {
    expect(webhookUrlProblem('https://hooks.example.com/x?y=1', [])).toEqual({ url: 'https://hooks.example.com/x?y=1' });
    expect(webhookUrlProblem('http://localhost:8080/x', [])).toEqual({ url: 'http://localhost:8080/x' }); // judged after DNS, at delivery
    for (const bad of ['ftp://example.com/', 'http://u:p@example.com/', 'http://127.0.0.1/', 'http://10.1.2.3/', 'http://[::ffff:192.168.0.1]/', 'http://169.254.169.254/', 'http://metadata/', 'nope']) {
      expect(webhookUrlProblem(bad, []), bad).toHaveProperty('problem');
    }
    expect(webhookUrlProblem('http://127.0.0.1:9/x', ['127.0.0.1'])).toEqual({ url: 'http://127.0.0.1:9/x' });
    expect(webhookUrlProblem('http://10.1.2.3/x', ['10.0.0.0/8'])).toHaveProperty('url');
  });

  it('taskWebhook: the request, else the key default with the terminal events; events in canonical order', () => {
    const opts = { allowHosts: [], canSign: true };
    expect(taskWebhook(null, null, opts)).toBeNull();
    expect(taskWebhook(null, 'https://a.example/h', opts)).toEqual({ webhookUrl: 'https://a.example/h', webhookEvents: ['COMPLETED', 'FAILED', 'CANCELLED'] });
    expect(taskWebhook({ url: 'https://b.example/h', events: ['FAILED', 'STARTED', 'FAILED'] }, 'https://a.example/h', opts)).toEqual({ webhookUrl: 'https://b.example/h', webhookEvents: ['STARTED', 'FAILED'] });
    const refused = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as ValidationError;
      }
      throw new Error('expected a ValidationError');
    };
    expect(refused(() => taskWebhook({ url: 'http://192.168.1.1/' }, null, opts))).toMatchObject({ field: 'webhook.url', code: 'VALIDATION_ERROR' });
    expect(refused(() => taskWebhook({ url: 'https://a.example/', events: [] }, null, opts))).toMatchObject({ field: 'webhook.events' });
    expect(refused(() => taskWebhook({ url: 'https://a.example/' }, null, { allowHosts: [], canSign: false }))).toMatchObject({ field: 'webhook', code: 'WEBHOOK_SECRET_MISSING' });
  });
});

describe('webhook configuration', () => {
  const dir = os.tmpdir();
  it('defaults, and REELAY_WEBHOOK_* parsed', () => {
    expect(loadConfig({}, [], dir).webhooks).toEqual({ secret: undefined, allowHosts: [], timeoutMs: 10_000, retryBaseMs: 5_000, retryMaxMs: 3_600_000, giveUpMs: 86_400_000, concurrency: 16, pollMs: 1_000 });
    const secret = generateWebhookSecret();
    const c = loadConfig({ REELAY_WEBHOOK_SECRET: secret, REELAY_WEBHOOK_ALLOW_HOSTS: ' hooks.internal, 10.0.0.0/8 ,*.svc.local', REELAY_WEBHOOK_RETRY_BASE_MS: '50' }, [], dir);
    expect(c.webhooks).toMatchObject({ secret, allowHosts: ['hooks.internal', '10.0.0.0/8', '*.svc.local'], retryBaseMs: 50 });
  });

  it('refuses a malformed secret without echoing it, and a URL as an allowed host', () => {
    for (const bad of ['secret', 'whsec_', 'whsec_c2hvcnQ=', 'whsec_!!!!']) {
      expect(() => loadConfig({ REELAY_WEBHOOK_SECRET: bad }, [], dir)).toThrow(ConfigError);
      try {
        loadConfig({ REELAY_WEBHOOK_SECRET: bad }, [], dir);
      } catch (e) {
        if (bad.length > 6) expect((e as Error).message).not.toContain(bad);
      }
    }
    expect(() => loadConfig({ REELAY_WEBHOOK_ALLOW_HOSTS: 'http://x/' }, [], dir)).toThrow(/REELAY_WEBHOOK_ALLOW_HOSTS/);
  });
});

describe('webhook body', () => {
  const stored = {
    id: '7d8e8c5e-1b7a-4a36-9a55-5c4f3e9f2a10',
    owner: 'alice',
    provider_id: 'local',
    model: null,
    prompt: 'p',
    negative_prompt: null,
    params: { durationSeconds: 2 },
    input_image: { kind: 'file', file: '7d8e/in put.png', contentType: 'image/png' },
    status: 'COMPLETED',
    progress: 1,
    provider_task_id: 'up-1',
    upstream_status: 'done',
    media_type: 'VIDEO',
    result: { file: '7d8e/result.mp4', upstreamUrl: null, contentType: 'video/mp4', sizeBytes: 10, durationSeconds: 2, width: 64, height: 64 },
    error_code: null,
    error_message: null,
    attempts: 1,
    created_at: '2026-01-31T12:00:00.123+00:00',
    updated_at: '2026-01-31T12:00:05.5+00:00',
    started_at: '2026-01-31T12:00:01+00:00',
    completed_at: '2026-01-31T12:00:05.5+00:00',
    retry_of: null,
    webhook_url: 'https://a.example/h',
    webhook_events: ['COMPLETED'],
    request_origin: 'http://127.0.0.1:4000',
  };

  it('is the task as the API shows it, URLs absolute on the given origin', () => {
    const row = taskRowFromJson(stored);
    expect(row.createdAt).toEqual(new Date('2026-01-31T12:00:00.123Z'));
    expect(row.providerId).toBe('local');
    const body = JSON.parse(deliveryBody({ event: 'COMPLETED', task: row, createdAt: new Date('2026-01-31T12:00:05.6Z') }, 'https://video.example.com'));
    expect(body).toEqual({
      type: 'task.completed',
      timestamp: '2026-01-31T12:00:05.600Z',
      data: {
        id: stored.id,
        status: 'COMPLETED',
        progress: 1,
        prompt: 'p',
        negativePrompt: null,
        provider: 'local',
        model: null,
        providerTaskId: 'up-1',
        upstreamStatus: 'done',
        mediaType: 'VIDEO',
        params: { durationSeconds: 2 },
        inputImage: { url: 'https://video.example.com/files/7d8e/in%20put.png', contentType: 'image/png' },
        result: { url: 'https://video.example.com/files/7d8e/result.mp4', thumbnailUrl: 'https://video.example.com/files/7d8e/poster.jpg', fileExpired: false, upstreamUrl: null, contentType: 'video/mp4', sizeBytes: 10, durationSeconds: 2, width: 64, height: 64 },
        error: null,
        attempts: 1,
        createdAt: '2026-01-31T12:00:00.123Z',
        updatedAt: '2026-01-31T12:00:05.500Z',
        startedAt: '2026-01-31T12:00:01.000Z',
        completedAt: '2026-01-31T12:00:05.500Z',
        retryOf: null,
        cost: null,
      },
    });
    expect(JSON.stringify(body)).not.toContain('alice'); // the owner is not shown (as to a non-operator key)
  });

  it('signs its file links like the API when signed links are configured', () => {
    const signing = { secret: 'x'.repeat(32), ttlSeconds: 600 };
    const body = JSON.parse(deliveryBody({ event: 'COMPLETED', task: taskRowFromJson(stored), createdAt: new Date() }, 'https://video.example.com', { signing }));
    for (const [url, pathname] of [
      [body.data.result.url, '/files/7d8e/result.mp4'],
      [body.data.result.thumbnailUrl, '/files/7d8e/poster.jpg'],
      [body.data.inputImage.url, '/files/7d8e/in%20put.png'],
    ] as const) {
      const u = new URL(url);
      expect(u.pathname).toBe(pathname);
      expect(verifyFileLink(signing.secret, u.pathname, u.search)).toBe('ok');
    }
  });
});

describe('safePost', () => {
  let server: http.Server;
  let base: string;
  const seen: Array<{ method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += String(c)));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        if (req.url === '/redirect') return res.writeHead(307, { location: '/ok' }).end();
        if (req.url === '/gone') return res.writeHead(410).end('no');
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const opts = { allowHosts: ['127.0.0.1'], timeoutMs: 2000, purpose: WEBHOOK_FETCH };

  it('sends the body and headers, answers the status', async () => {
    const secret = generateWebhookSecret();
    const body = '{"type":"task.completed"}';
    const now = new Date();
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign('msg_1', now, body) };
    expect(await safePost(`${base}/ok`, Buffer.from(body), 'application/json', { ...opts, headers })).toEqual({ status: 204 });
    const got = seen.at(-1)!;
    expect(got).toMatchObject({ method: 'POST', url: '/ok', body, headers: { 'content-type': 'application/json', 'webhook-id': 'msg_1' } });
    expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toEqual({ type: 'task.completed' });
  });

  it('does not follow a redirect (a failure with its status), fails on 4xx, refuses a private host unless allowed', async () => {
    const n = seen.length;
    await expect(safePost(`${base}/redirect`, Buffer.from('{}'), 'application/json', opts)).rejects.toMatchObject({ status: 307, code: 'WEBHOOK_REFUSED' });
    expect(seen.slice(n).map((s) => s.url)).toEqual(['/redirect']);
    await expect(safePost(`${base}/gone`, Buffer.from('{}'), 'application/json', opts)).rejects.toMatchObject({ status: 410 });
    const refused = await safePost(`${base}/ok`, Buffer.from('{}'), 'application/json', { ...opts, allowHosts: [] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UpstreamError);
    expect(refused).toMatchObject({ code: 'WEBHOOK_URL_FORBIDDEN', message: expect.stringMatching(/REELAY_WEBHOOK_ALLOW_HOSTS/) });
    const byName = await safePost(`${base.replace('127.0.0.1', 'localhost')}/ok`, Buffer.from('{}'), 'application/json', { ...opts, allowHosts: [] }).catch((e: unknown) => e);
    expect(byName).toMatchObject({ code: 'WEBHOOK_URL_FORBIDDEN' });
    expect(seen.length).toBe(n + 2);
  });
});
