// Which addresses user-supplied URLs may reach, and how allowHosts entries match.
import { describe, expect, it } from 'vitest';
import { embeddedIPv4, hostAllowed, isMetadataHostname, isPublicAddress } from '../../src/net/address-policy.js';

const NOT_PUBLIC = [
  // IPv4 special ranges
  '0.0.0.0', '0.1.2.3', '10.0.0.1', '10.255.255.255', '100.64.0.1', '100.127.255.254', '127.0.0.1', '127.8.9.10',
  '169.254.0.1', '169.254.169.254', '172.16.0.1', '172.31.255.255', '192.0.0.8', '192.0.2.1', '192.168.1.1',
  '198.18.0.1', '198.19.255.255', '198.51.100.7', '203.0.113.9', '224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255',
  // IPv6 special ranges
  '::', '::1', '0:0:0:0:0:0:0:1', '[::1]', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'ff02::1', 'ff0e::1',
  '2001:db8::1', '2001:0db8:ffff::1', '100::1', '::127.0.0.1',
  // IPv4-mapped / translated / NAT64 / 6to4 forms of private addresses
  '::ffff:127.0.0.1', '::FFFF:7f00:1', '::ffff:10.1.2.3', '::ffff:169.254.169.254', '0:0:0:0:0:ffff:c0a8:0101',
  '64:ff9b::10.0.0.1', '64:ff9b::a9fe:a9fe', '2002:7f00:1::1', '2002:c0a8:0101::', '::ffff:0:a00:1', '64:ff9b:1::1',
  // more special-purpose IPv6 ranges (ipaddr.js): Teredo, benchmarking, ORCHID, documentation, segment routing
  '2001::1', '2001:2::1', '2001:20::1', '3fff::1', '5f00::1',
  // metadata names and non-addresses
  'metadata.google.internal', 'METADATA.google.internal.', 'metadata', 'example.com', 'localhost', '', '010.0.0.1', '1.2.3',
];

const PUBLIC = [
  '1.1.1.1', '8.8.8.8', '93.184.216.34', '100.63.255.255', '100.128.0.1', '172.15.255.255', '172.32.0.1', '169.253.255.255',
  '192.0.1.1', '192.169.0.1', '198.17.255.255', '198.20.0.1', '223.255.255.255',
  '2606:4700:4700::1111', '2001:4860:4860::8888', '[2a00:1450:4001::200e]', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:0808:0808::1',
];

describe('isPublicAddress', () => {
  it.each(NOT_PUBLIC)('refuses %s', (ip) => expect(isPublicAddress(ip)).toBe(false));
  it.each(PUBLIC)('accepts %s', (ip) => expect(isPublicAddress(ip)).toBe(true));

  it('reads the IPv4 address inside mapped, NAT64 and 6to4 forms', () => {
    expect(embeddedIPv4('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(embeddedIPv4('::ffff:a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIPv4('64:ff9b::c0a8:1')).toBe('192.168.0.1');
    expect(embeddedIPv4('2002:0a00:0001::5')).toBe('10.0.0.1');
    expect(embeddedIPv4('2606:4700::1')).toBeNull();
    expect(embeddedIPv4('127.0.0.1')).toBeNull();
  });

  it('knows the metadata host names', () => {
    expect(isMetadataHostname('metadata.google.internal')).toBe(true);
    expect(isMetadataHostname('Metadata')).toBe(true);
    expect(isMetadataHostname('metadata.example.com')).toBe(false);
  });
});

describe('hostAllowed', () => {
  const cases: Array<[string, string[], boolean]> = [
    ['images.local', ['images.local'], true],
    ['IMAGES.Local', ['images.local'], true],
    ['images.local.', ['Images.Local'], true],
    ['images.local', ['other.local'], false],
    ['cdn.example.com', ['*.example.com'], true],
    ['a.b.example.com', ['*.example.com'], true],
    ['example.com', ['*.example.com'], false],
    ['badexample.com', ['*.example.com'], false],
    ['127.0.0.1', ['127.0.0.1'], true],
    ['127.0.0.2', ['127.0.0.1'], false],
    ['10.20.30.40', ['10.0.0.0/8'], true],
    ['11.0.0.1', ['10.0.0.0/8'], false],
    ['::ffff:10.1.1.1', ['10.0.0.0/8'], true],
    ['[::1]', ['::1'], true],
    ['fd00::5', ['fd00::/8'], true],
    ['fe80::5', ['fd00::/8'], false],
    ['::ffff:10.1.1.1', ['::ffff:10.0.0.0/104'], true],
    ['10.9.9.9', ['::ffff:10.0.0.0/104'], true],
    ['10.0.0.1', ['::/0'], false],
    ['10.0.0.1', ['10.0.0.0/8x', '10.0.0.0/', '010.0.0.0/8'], false],
    ['127.0.0.1', ['localhost'], false],
    ['localhost', ['127.0.0.1'], false],
    ['localhost', ['127.0.0.0/8'], false],
    ['10.0.0.1', ['10.0.0.0/99', 'not an ip/8', ''], false],
    ['anything', [], false],
  ];
  it.each(cases)('%s with %j → %s', (host, allow, expected) => expect(hostAllowed(host, allow)).toBe(expected));
});
