// Which addresses reelay may connect to when it fetches a user-supplied URL:
// nothing private, loopback, link-local, reserved or cloud-metadata, unless a
// provider's `allowHosts` names the host (or its address range) explicitly.
import { BlockList, isIP } from 'node:net';

/** Special-purpose IPv4 ranges (RFC 6890 and friends) that are never fetched. */
const V4_BLOCKED: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. 169.254.169.254 (cloud metadata)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, incl. 255.255.255.255 broadcast
];

/** IPv6 ranges that are never fetched (embedded-IPv4 forms are handled below). */
const V6_BLOCKED: ReadonlyArray<readonly [string, number]> = [
  ['::', 96], // unspecified, loopback, deprecated IPv4-compatible
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard-only
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local
  ['ff00::', 8], // multicast
];

/** IPv6 forms that carry an IPv4 address: judged by the IPv4 rules. `at` is the byte offset of it. */
const V6_EMBEDDING_V4: ReadonlyArray<{ prefix: string; bits: number; at: number }> = [
  { prefix: '::ffff:0:0', bits: 96, at: 12 }, // IPv4-mapped
  { prefix: '::ffff:0:0:0', bits: 96, at: 12 }, // IPv4-translated (SIIT)
  { prefix: '64:ff9b::', bits: 96, at: 12 }, // NAT64 well-known prefix
  { prefix: '2002::', bits: 16, at: 2 }, // 6to4
];

/** Host names of cloud metadata services. */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata']);

const blocked = new BlockList();
for (const [net, bits] of V4_BLOCKED) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of V6_BLOCKED) blocked.addSubnet(net, bits, 'ipv6');

/** Lower case, without IPv6 brackets, zone id or a trailing dot. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const zone = h.indexOf('%');
  if (zone >= 0 && isIP(h) === 6) h = h.slice(0, zone);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** A cloud metadata host name, refused like a private address. */
export function isMetadataHostname(host: string): boolean {
  return METADATA_HOSTS.has(normalizeHost(host));
}

/** The 16 bytes of a valid IPv6 address (as accepted by `isIP`). */
function ipv6Bytes(ip: string): Uint8Array {
  let s = ip;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const h = groups(head);
  const r = groups(rest);
  const all = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

function hasPrefix(bytes: Uint8Array, prefix: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits / 8; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

const embeddings = V6_EMBEDDING_V4.map((e) => ({ ...e, bytes: ipv6Bytes(e.prefix) }));

/** The IPv4 address carried by an IPv4-mapped, NAT64 or 6to4 IPv6 address, or null. */
export function embeddedIPv4(ip: string): string | null {
  const addr = normalizeHost(ip);
  if (isIP(addr) !== 6) return null;
  const bytes = ipv6Bytes(addr);
  const hit = embeddings.find((e) => hasPrefix(bytes, e.bytes, e.bits));
  return hit ? Array.from(bytes.subarray(hit.at, hit.at + 4)).join('.') : null;
}

/**
 * True only for a literal IP address that is publicly routable. False for private,
 * loopback, link-local, CGNAT, documentation, multicast and reserved ranges, for
 * IPv6 forms embedding such an IPv4 address, for the metadata host names and for
 * anything that is not an IP address at all.
 */
export function isPublicAddress(ip: string): boolean {
  const addr = normalizeHost(ip);
  if (METADATA_HOSTS.has(addr)) return false;
  const family = isIP(addr);
  if (family === 4) return !blocked.check(addr, 'ipv4');
  if (family !== 6) return false;
  const v4 = embeddedIPv4(addr);
  if (v4 !== null) return !blocked.check(v4, 'ipv4');
  return !blocked.check(addr, 'ipv6');
}

/** An IP address in a form comparable with allow rules (IPv4-mapped IPv6 as plain IPv4). */
function comparableIp(addr: string): { ip: string; family: 'ipv4' | 'ipv6' } | null {
  const family = isIP(addr);
  if (family === 4) return { ip: addr, family: 'ipv4' };
  if (family !== 6) return null;
  const bytes = ipv6Bytes(addr);
  if (hasPrefix(bytes, embeddings[0].bytes, 96)) return { ip: Array.from(bytes.subarray(12)).join('.'), family: 'ipv4' };
  return { ip: addr, family: 'ipv6' };
}

/**
 * Does an `allowHosts` entry name this host? Entries are exact host names
 * (case-insensitive), `*.example.com` (any subdomain, not the apex), IP
 * literals ("127.0.0.1", "::1") or CIDR ranges ("10.0.0.0/8", "fd00::/8").
 * Host name entries match host names, IP entries match IP addresses.
 */
export function hostAllowed(host: string, allowHosts: readonly string[]): boolean {
  const h = normalizeHost(host);
  if (!h) return false;
  const ip = comparableIp(h);
  for (const raw of allowHosts) {
    const entry = normalizeHost(raw);
    if (!entry) continue;
    const slash = entry.indexOf('/');
    if (ip) {
      const net = comparableIp(slash >= 0 ? entry.slice(0, slash) : entry);
      if (!net) continue;
      const max = net.family === 'ipv4' ? 32 : 128;
      const bits = slash >= 0 ? Number(entry.slice(slash + 1)) : max;
      if (!Number.isInteger(bits) || bits < 0 || bits > max) continue;
      const rule = new BlockList();
      rule.addSubnet(net.ip, bits, net.family);
      if (rule.check(ip.ip, ip.family)) return true;
    } else if (entry.startsWith('*.')) {
      const suffix = entry.slice(1); // ".example.com"
      if (h.endsWith(suffix) && h.length > suffix.length) return true;
    } else if (entry === h) return true;
  }
  return false;
}
