// What a request is, worked out once: its id (x-request-id), the client's
// address, and the protocol and host it was sent to. Behind a reverse proxy
// listed in REELAY_TRUST_PROXY these come from X-Forwarded-For/-Proto/-Host
// (and a well-formed incoming x-request-id is kept); from any other peer those
// headers are ignored.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { clientAddress, normalize, type ProxyTrust } from '../net/trust-proxy.js';

export interface RequestInfo {
  /** The request id: in every log line of the request and in the x-request-id answer header. */
  id: string;
  /** The client's address (for logs and limits). */
  client: string;
  /** The peer is a trusted proxy. */
  viaProxy: boolean;
  /** Protocol and host given by a trusted proxy (for links); undefined otherwise. */
  forwardedProto?: 'http' | 'https';
  forwardedHost?: string;
}

/** What a request id may look like when a proxy sends one: short, no spaces or control characters. */
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;
/** `name[:port]` or `[ipv6][:port]`, as request-policy.ts accepts Host headers. */
const HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/i;

const infos = new WeakMap<IncomingMessage, RequestInfo>();

/** The last value of a header that may be repeated or comma-separated (what the nearest proxy wrote). */
function lastValue(header: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(header) ? header.join(',') : header;
  if (!raw) return undefined;
  const i = raw.lastIndexOf(',');
  return (i < 0 ? raw : raw.slice(i + 1)).trim() || undefined;
}

function headerText(header: string | string[] | undefined): string | undefined {
  return Array.isArray(header) ? header.join(',') : header;
}

export function requestInfo(req: IncomingMessage, trust: ProxyTrust): RequestInfo {
  let info = infos.get(req);
  if (info) return info;
  const peer = req.socket.remoteAddress ?? '';
  const viaProxy = trust(peer);
  if (!viaProxy) {
    info = { id: randomUUID(), client: normalize(peer), viaProxy };
  } else {
    const incomingId = req.headers['x-request-id'];
    const proto = lastValue(req.headers['x-forwarded-proto'])?.toLowerCase();
    const host = lastValue(req.headers['x-forwarded-host']);
    info = {
      id: typeof incomingId === 'string' && REQUEST_ID.test(incomingId) ? incomingId : randomUUID(),
      client: clientAddress(peer, headerText(req.headers['x-forwarded-for']), trust),
      viaProxy,
      forwardedProto: proto === 'http' || proto === 'https' ? proto : undefined,
      forwardedHost: host && HOST.test(host) ? host : undefined,
    };
  }
  infos.set(req, info);
  return info;
}

/** The origin a client used, for absolute links: a trusted proxy's X-Forwarded-Proto/-Host, else this connection's protocol and Host. */
export function requestOrigin(req: IncomingMessage, info: RequestInfo, fallbackHost: string): string {
  const proto = info.forwardedProto ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
  const host = info.forwardedHost ?? req.headers.host ?? fallbackHost;
  return new URL(`${proto}://${host}`).origin;
}
