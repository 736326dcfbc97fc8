import { describe, expect, it } from 'vitest';
import { hostProblem, isListedOrigin, isLoopbackHostHeader, websocketOriginProblem } from '../../src/server/request-policy.js';

describe('Host rule (no keys)', () => {
  it('accepts loopback names and addresses with any port', () => {
    for (const host of ['localhost', 'localhost:4000', 'LOCALHOST:1', '127.0.0.1', '127.0.0.1:4000', '127.1.2.3:80', '[::1]', '[::1]:4000', '[0:0:0:0:0:0:0:1]:4000', '[::ffff:127.0.0.1]:4000']) {
      expect(isLoopbackHostHeader(host), host).toBe(true);
      expect(hostProblem(host)).toBeNull();
    }
  });

  it('refuses every other name, odd syntax and a missing Host', () => {
    for (const host of [undefined, '', 'evil.example:4000', 'evil.example', 'localhost.evil.example', 'localhost.', '10.0.0.1:4000', '0.0.0.0:4000', '[::]:4000', '[fe80::1]', '127.1', '0x7f.0.0.1', 'evil.example@localhost', 'localhost/x', 'localhost:4000:1', '[::1', '::1']) {
      expect(isLoopbackHostHeader(host), String(host)).toBe(false);
      expect(hostProblem(host)).toMatchObject({ status: 403, code: 'HOST_NOT_ALLOWED' });
    }
  });
});

describe('Origin rule', () => {
  const config = { corsOrigins: ['https://app.example.com'], publicUrl: 'https://video.example.com' };

  it('lists only the configured origins', () => {
    expect(isListedOrigin(config, 'https://app.example.com')).toBe(true);
    for (const o of [null, undefined, 'null', 'https://evil.example', 'http://app.example.com', 'https://app.example.com.evil.example', 'https://app.example.com:8443']) {
      expect(isListedOrigin(config, o), String(o)).toBe(false);
    }
  });

  it('WebSocket upgrades: absent, same-origin, public URL and listed pass; anything else is refused', () => {
    expect(websocketOriginProblem(config, undefined, 'localhost:4000')).toBeNull();
    expect(websocketOriginProblem(config, 'http://localhost:4000', 'localhost:4000')).toBeNull();
    expect(websocketOriginProblem(config, 'http://[::1]:4000', '[::1]:4000')).toBeNull();
    expect(websocketOriginProblem(config, 'https://video.example.com', 'internal:4000')).toBeNull();
    expect(websocketOriginProblem(config, 'https://app.example.com', 'localhost:4000')).toBeNull();
    for (const o of ['https://evil.example', 'null', 'http://localhost:5000', 'file://', 'garbage']) {
      expect(websocketOriginProblem(config, o, 'localhost:4000'), o).toMatchObject({ status: 403, code: 'ORIGIN_NOT_ALLOWED' });
    }
  });
});
