// Which browsers may talk to reelay: the Host rule against DNS rebinding (while
// no keys are required) and the Origin rule for CORS and WebSocket upgrades.
import ipaddr from 'ipaddr.js';
import type { Config } from '../config.js';

// A Host header is `name[:port]` or `[ipv6][:port]`; anything else (userinfo, paths) is refused.
const HOST_HEADER = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+))(?::(\d{1,5}))?$/i;

/** True for `localhost`, `127.x.x.x` and `[::1]` with any port: names a DNS-rebinding page cannot use. */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  const m = HOST_HEADER.exec(host ?? '');
  if (!m) return false;
  const [, v6, name] = m;
  if (v6 !== undefined) return ipaddr.IPv6.isValid(v6) && ipaddr.process(v6).range() === 'loopback';
  if (name!.toLowerCase() === 'localhost') return true;
  return ipaddr.IPv4.isValidFourPartDecimal(name!) && ipaddr.IPv4.parse(name!).range() === 'loopback';
}

export interface Refusal {
  status: number;
  code: 'HOST_NOT_ALLOWED' | 'ORIGIN_NOT_ALLOWED';
  message: string;
}

/** Why a request to a server without keys is refused, or null when its Host is a loopback name. */
export function hostProblem(host: string | undefined): Refusal | null {
  if (isLoopbackHostHeader(host)) return null;
  const message = `Host ${JSON.stringify(host ?? '')} refused: without API keys reelay only answers to localhost, 127.0.0.1 or [::1] (configure API keys to serve other names)`;
  return { status: 403, code: 'HOST_NOT_ALLOWED', message };
}

export type OriginPolicy = Pick<Config, 'corsOrigins' | 'publicUrl'>;

/** Listed in REELAY_CORS_ORIGINS: such pages get CORS headers with credentials. */
export function isListedOrigin(config: OriginPolicy, origin: string | null | undefined): boolean {
  if (!origin || !URL.canParse(origin)) return false;
  return config.corsOrigins.includes(new URL(origin).origin);
}

/** The page comes from reelay itself: its host is the one the request went to, or REELAY_PUBLIC_URL's. */
export function isSameOrigin(config: OriginPolicy, origin: string, host: string | undefined): boolean {
  if (!URL.canParse(origin)) return false;
  const url = new URL(origin);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (config.publicUrl && new URL(config.publicUrl).origin === url.origin) return true;
  return !!host && url.host.toLowerCase() === host.toLowerCase();
}

/** WebSocket upgrades: no Origin (not a browser), same-origin or listed. Browsers always send one. */
export function websocketOriginProblem(config: OriginPolicy, origin: string | undefined, host: string | undefined): Refusal | null {
  if (origin === undefined || isSameOrigin(config, origin, host) || isListedOrigin(config, origin)) return null;
  const message = `Origin ${JSON.stringify(origin)} refused: list it in REELAY_CORS_ORIGINS to open WebSockets from that page`;
  return { status: 403, code: 'ORIGIN_NOT_ALLOWED', message };
}
