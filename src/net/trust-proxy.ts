// REELAY_TRUST_PROXY: which peers are reverse proxies whose X-Forwarded-*
// headers reelay believes. Entries are addresses, CIDR ranges, or the names
// loopback, linklocal and uniquelocal (as in Express's "trust proxy"). The
// client is the rightmost address of X-Forwarded-For that is not a trusted
// proxy: hops a client wrote itself sit to the left of what the proxies
// appended, so they never count while a trusted proxy stands in between.
import ipaddr from 'ipaddr.js';

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

const NAMED: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

export type ProxyTrust = (address: string) => boolean;

/** Never trusted: the default, and what REELAY_TRUST_PROXY unset means. */
export const TRUST_NONE: ProxyTrust = () => false;

/** Dotted-quad IPv4 or IPv6 only (no `127.1`, no hex): what proxies and sockets write. */
function isStrictAddress(value: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(value) || ipaddr.IPv6.isValid(value);
}

function parseAddress(value: string): Addr | null {
  if (!isStrictAddress(value)) return null;
  return ipaddr.process(value);
}

function parseRange(entry: string): [Addr, number] | null {
  if (entry.includes('/')) {
    if (!ipaddr.isValidCIDR(entry)) return null;
    const [addr, bits] = ipaddr.parseCIDR(entry);
    // A range of IPv4-mapped IPv6 addresses matches the IPv4 addresses process() yields.
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) return [(addr as ipaddr.IPv6).toIPv4Address(), bits - 96];
    return [addr, bits];
  }
  const addr = parseAddress(entry);
  return addr ? [addr, addr.kind() === 'ipv4' ? 32 : 128] : null;
}

/**
 * The comma-separated list as given, each entry checked; throws an Error with
 * a one-line reason naming the first bad entry.
 */
export function parseTrustProxyList(raw: string | undefined): string[] {
  if (!raw?.trim()) return [];
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (NAMED[entry.toLowerCase()]) continue;
    if (!parseRange(entry)) {
      throw new Error(`${JSON.stringify(entry)} is not an IP address, a CIDR range (like 10.0.0.0/8) or one of loopback, linklocal, uniquelocal`);
    }
  }
  return entries;
}

/** A predicate for the (already checked) entries. */
export function compileProxyTrust(entries: readonly string[]): ProxyTrust {
  if (!entries.length) return TRUST_NONE;
  const ranges = entries.flatMap((e) => NAMED[e.toLowerCase()] ?? [e]).map((e) => parseRange(e)!);
  return (address) => {
    const addr = parseAddress(address);
    if (!addr) return false;
    const kind = addr.kind();
    return ranges.some(([range, bits]) => range.kind() === kind && addr.match(range, bits));
  };
}

/**
 * The client address of a request: the peer itself unless it is a trusted
 * proxy, else walking X-Forwarded-For from the right past trusted proxies to
 * the first address that is not one (a malformed entry stops the walk).
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, trust: ProxyTrust): string {
  if (!forwardedFor || !trust(peer)) return normalize(peer);
  const hops = forwardedFor.split(',');
  let client = peer;
  for (let i = hops.length - 1; i >= 0 && trust(client); i--) {
    const hop = hops[i]!.trim();
    if (!isStrictAddress(hop)) break;
    client = hop;
  }
  return normalize(client);
}

/** IPv4-mapped IPv6 (::ffff:1.2.3.4) as the IPv4 address; anything else as it is (cheap: runs for every request). */
export function normalize(address: string): string {
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && ipaddr.IPv4.isValidFourPartDecimal(address.slice(7))) return address.slice(7);
  return address;
}

export function isLoopbackAddress(address: string | undefined): boolean {
  const addr = address ? parseAddress(address) : null;
  return addr?.range() === 'loopback';
}
