// Which addresses reelay may connect to when it fetches a URL that came from
// outside (input images, upstream results): nothing private, loopback,
// link-local, reserved or cloud-metadata, unless the caller trusts the host.
// Address ranges come from ipaddr.js (its IANA special-purpose tables).
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** Host names of cloud metadata services. */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata']);

/** IPv6 prefixes that carry an IPv4 address, and the byte offset of it: judged by the IPv4 rules. */
const V4_EMBEDDINGS: ReadonlyArray<{ range: [ipaddr.IPv6, number]; at: number }> = [
  { range: ipaddr.IPv6.parseCIDR('::ffff:0:0/96'), at: 12 }, // IPv4-mapped
  { range: ipaddr.IPv6.parseCIDR('::ffff:0:0:0/96'), at: 12 }, // IPv4-translated (SIIT, RFC 6145)
  { range: ipaddr.IPv6.parseCIDR('64:ff9b::/96'), at: 12 }, // NAT64 well-known prefix (RFC 6052)
  { range: ipaddr.IPv6.parseCIDR('2002::/16'), at: 2 }, // 6to4 (RFC 3056)
];

/** The deprecated IPv4-compatible block (::a.b.c.d), which ipaddr.js files under plain unicast. */
const V4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

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

/**
 * A strictly written IP literal (what `net.isIP` accepts: no octal, hex or
 * shortened IPv4 forms, which ipaddr.js would read differently), parsed.
 */
function parseLiteral(host: string): Address | null {
  const h = normalizeHost(host);
  return isIP(h) ? ipaddr.parse(h) : null;
}

function v4At(addr: ipaddr.IPv6, at: number): ipaddr.IPv4 {
  return new ipaddr.IPv4(addr.toByteArray().slice(at, at + 4));
}

/** The IPv4 address carried by an IPv4-mapped, translated, NAT64 or 6to4 IPv6 address, or null. */
export function embeddedIPv4(ip: string): string | null {
  const addr = parseLiteral(ip);
  if (!addr || addr.kind() !== 'ipv6') return null;
  const hit = V4_EMBEDDINGS.find((e) => addr.match(e.range));
  return hit ? v4At(addr as ipaddr.IPv6, hit.at).toString() : null;
}

function isPublic(addr: Address): boolean {
  if (addr.kind() === 'ipv4') return addr.range() === 'unicast';
  const v6 = addr as ipaddr.IPv6;
  const hit = V4_EMBEDDINGS.find((e) => v6.match(e.range));
  if (hit) return isPublic(v4At(v6, hit.at));
  return v6.range() === 'unicast' && !v6.match(V4_COMPATIBLE);
}

/**
 * True only for a literal IP address that is publicly routable ("unicast" to
 * ipaddr.js). False for private, loopback, link-local, CGNAT, documentation,
 * multicast, reserved and other special-purpose ranges, for IPv6 forms embedding
 * such an IPv4 address, for the metadata host names and for anything that is not
 * an IP address at all.
 */
export function isPublicAddress(ip: string): boolean {
  const addr = parseLiteral(ip);
  return addr !== null && isPublic(addr);
}

/** An address in the form allow rules compare with: IPv4-mapped IPv6 as plain IPv4. */
function comparable(addr: Address): Address {
  return addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() ? (addr as ipaddr.IPv6).toIPv4Address() : addr;
}

/** An allowHosts IP or CIDR entry as a range, or null when it is neither. */
function ruleRange(entry: string): [Address, number] | null {
  const slash = entry.indexOf('/');
  const net = parseLiteral(slash >= 0 ? entry.slice(0, slash) : entry);
  if (!net) return null;
  const max = net.kind() === 'ipv4' ? 32 : 128;
  const bits = slash >= 0 ? Number(entry.slice(slash + 1)) : max;
  if (slash >= 0 && !/^\d{1,3}$/.test(entry.slice(slash + 1))) return null;
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return null;
  const c = comparable(net);
  // A mapped rule (::ffff:a.b.c.d/120) becomes the IPv4 range it stands for.
  return c === net ? [net, bits] : [c, Math.max(0, bits - 96)];
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
  const literal = parseLiteral(h);
  const ip = literal ? comparable(literal) : null;
  for (const raw of allowHosts) {
    const entry = normalizeHost(raw);
    if (!entry) continue;
    if (ip) {
      const range = ruleRange(entry);
      if (range && range[0].kind() === ip.kind() && ip.match(range)) return true;
    } else if (entry.startsWith('*.')) {
      const suffix = entry.slice(1); // ".example.com"
      if (h.endsWith(suffix) && h.length > suffix.length) return true;
    } else if (entry === h) return true;
  }
  return false;
}

/**
 * Whether a URL's host is refused before any DNS: an IP literal that is not
 * public, or a cloud metadata name, unless `allowHosts` lists it. Other names
 * are judged by the addresses DNS returns, at connection time.
 */
export function forbiddenBeforeLookup(host: string, allowHosts: readonly string[]): boolean {
  const h = normalizeHost(host);
  if (hostAllowed(h, allowHosts)) return false;
  return isIP(h) ? !isPublicAddress(h) : isMetadataHostname(h);
}
