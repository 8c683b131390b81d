// Full validation as ChromeOS's shill does it, with its own test strings.
import {
  checkTypes,
  chromeSanity,
  parseCidr,
  sane,
  sanityError,
  validate,
  type Parameters,
} from '../../lib/provider/validate';
import { CHROME_PARAMETERS } from '../helpers/chrome';

const base: Parameters = {
  address: '10.10.10.10/24',
  exclusionList: [],
  inclusionList: [],
  dnsServers: [],
};

test("Chrome's character check, and our IPv6 extension", () => {
  expect(chromeSanity('1.../0', true)).toBe(true); // no range check at this stage
  expect(chromeSanity('1.1.1.1/', true)).toBe(false);
  expect(chromeSanity('1.1.1.1', false)).toBe(true);
  expect(chromeSanity('1.1.1.1/1', false)).toBe(false);
  expect(sane('2001:db8::/32', true)).toBe(true);
  expect(sane('2001:db8::1', false)).toBe(true);
  expect(sane('2001:db8::/129', true)).toBe(false);
  expect(sane('::g/8', true)).toBe(false);
  expect(sanityError({ ...base, dnsServers: ['2001:db8::53'] })).toBeNull();
});

test("shill's warnings for invalid and duplicate entries, exclusions first", () => {
  const r = validate({
    ...base,
    exclusionList: [
      '400.400.400.400/12',
      '1.1.1.1/44',
      '123.211.21.0/23',
      '123.211.21.1/23',
      '10.0.0.0/8',
    ],
    inclusionList: ['10.0.0.0/8', '0.0.0.0/0', '123.211.21.1/25'],
  });
  expect(r.errors).toBe('');
  expect(r.value!.warnings).toEqual([
    '400.400.400.400/12 for exclusion_list is invalid;',
    '1.1.1.1/44 for exclusion_list is invalid;',
    'Duplicate entry for 123.211.21.1/23 in exclusion_list found;',
    'Duplicate entry for 10.0.0.0/8 in inclusion_list found;',
  ]);
  // A network in both lists stays excluded; a /25 of the same address is another network.
  expect(r.value!.exclusions.map((c) => `${c.network}/${c.prefixLength}`)).toEqual([
    '123.211.20.0/23',
    '10.0.0.0/8',
  ]);
  expect(r.value!.inclusions.map((c) => `${c.network}/${c.prefixLength}`)).toEqual([
    '0.0.0.0/0',
    '123.211.21.0/25',
  ]);
});

test('every error fragment, joined in order', () => {
  const r = validate({
    address: '300.1.1.1/33',
    broadcastAddress: '1.2.3',
    mtu: '575',
    domainSearch: [' ', ''],
    reconnect: 'yes',
    exclusionList: [],
    inclusionList: [],
    dnsServers: ['1...'],
  });
  expect(r.errors).toBe(
    'address is not a valid IP;subnet_prefix not in expected range;broadcast_address is not a valid IP;' +
      'mtu not in expected range;domain_search has no valid values or is empty;reconnect not a valid boolean;',
  );
  expect(r.value).toBeUndefined();
});

test("Chrome's VpnSuccess parameters are valid as given", () => {
  const r = validate(CHROME_PARAMETERS);
  expect(r.errors).toBe('');
  expect(r.value).toMatchObject({
    family: 4,
    address: '10.10.10.10',
    prefixLength: 24,
    mtu: 1600,
    broadcast: '10.10.10.255',
    domainSearch: ['foo', 'bar'],
    dnsServers: ['8.8.8.8'],
    reconnect: false,
    warnings: [],
  });
});

test('blockOutside and txQueueLength: our extensions, checked like the rest', () => {
  expect(validate(base).value).toMatchObject({ blockOutside: false, txQueueLength: 1000 });
  expect(validate({ ...base, blockOutside: 'true', txQueueLength: '5000' }).value).toMatchObject({
    blockOutside: true,
    txQueueLength: 5000,
  });
  expect(validate({ ...base, blockOutside: 'yes' }).errors).toBe(
    'block_outside not a valid boolean;',
  );
  expect(validate({ ...base, txQueueLength: '0' }).errors).toBe(
    'tx_queue_length not in expected range;',
  );
  expect(validate({ ...base, txQueueLength: '100001' }).errors).toBe(
    'tx_queue_length not in expected range;',
  );
  expect(validate({ ...base, txQueueLength: '1e3' }).errors).toBe(
    'tx_queue_length is not a decimal number;',
  );
  expect(() => checkTypes({ ...base, blockOutside: true })).toThrow(
    /blockOutside must be a string/,
  );
});

test('allowedUids / disallowedUids: ranges merged; what bypasses the tunnel', () => {
  expect(validate(base).value!.bypassUids).toEqual([]);
  const allowed = validate({ ...base, allowedUids: [1000, [2000, 2999], [1001, 1005], 3000] });
  expect(allowed.value).toMatchObject({
    allowedUids: [
      [1000, 1005],
      [2000, 3000],
    ],
    bypassUids: [
      [0, 999],
      [1006, 1999],
      [3001, 0xfffffffe],
    ],
  });
  expect(validate({ ...base, disallowedUids: [0] }).value!.bypassUids).toEqual([[0, 0]]);
  expect(validate({ ...base, allowedUids: [[5, 1]] }).errors).toBe(
    '[5,1] for allowed_uids is invalid;',
  );
  expect(validate({ ...base, disallowedUids: [-1] }).errors).toBe(
    '-1 for disallowed_uids is invalid;',
  );
  expect(validate({ ...base, allowedUids: [] }).errors).toBe('allowed_uids is empty;');
  expect(validate({ ...base, allowedUids: [1], disallowedUids: [2] }).errors).toBe(
    'allowed_uids and disallowed_uids cannot both be given;',
  );
  expect(() => checkTypes({ ...base, allowedUids: ['1000'] })).toThrow(
    /allowedUids must be an array of uids and \[first, last\] ranges/,
  );
});

test('dnsMatchDomains: domain names, lower-cased, once; they need a DNS server', () => {
  const dns = { ...base, dnsServers: ['198.51.100.53'] };
  expect(validate(dns).value!.dnsMatchDomains).toEqual([]);
  expect(
    validate({ ...dns, dnsMatchDomains: ['Corp.Example.', 'corp.example', 'b.example'] }).value!
      .dnsMatchDomains,
  ).toEqual(['corp.example', 'b.example']);
  expect(validate({ ...dns, dnsMatchDomains: ['-bad.example'] }).errors).toBe(
    '-bad.example for dns_match_domains is invalid;',
  );
  expect(validate({ ...base, dnsServers: [], dnsMatchDomains: ['corp.example'] }).errors).toBe(
    'dns_match_domains needs dns_servers;',
  );
  expect(() => checkTypes({ ...dns, dnsMatchDomains: 'corp.example' })).toThrow(
    /dnsMatchDomains must be an array of strings/,
  );
});

test('mtu bounds, reconnect, DNS warnings, defaults', () => {
  expect(validate({ ...base, mtu: '576' }).value!.mtu).toBe(576);
  expect(validate({ ...base, mtu: '65535' }).value!.mtu).toBe(65535);
  expect(validate({ ...base, mtu: '65536' }).errors).toBe('mtu not in expected range;');
  // Not a number at all: said so (shill says "not in expected range").
  expect(validate({ ...base, mtu: '1e3' }).errors).toBe('mtu is not a decimal number;');
  expect(validate({ ...base, mtu: 'abc' }).errors).toBe('mtu is not a decimal number;');
  expect(validate({ ...base, mtu: '' }).errors).toBe('mtu is not a decimal number;');
  expect(validate(base).value!.mtu).toBe(1500);
  expect(validate({ ...base, reconnect: 'true' }).value!.reconnect).toBe(true);
  const r = validate({ ...base, dnsServers: ['1...', '8.8.4.4', '2001:db8::53'] });
  expect(r.value!.dnsServers).toEqual(['8.8.4.4', '2001:db8::53']);
  expect(r.value!.warnings).toEqual(['1... for dns_servers is invalid;']);
  expect(validate({ ...base, address: '2001:db8::2/64' }).value).toMatchObject({
    family: 6,
    prefixLength: 64,
  });
});

test('CIDRs are masked as the kernel does', () => {
  expect(parseCidr('10.1.2.3/8')).toMatchObject({ network: '10.0.0.0', prefixLength: 8 });
  expect(parseCidr('1.2.3.4/0')).toMatchObject({ network: '0.0.0.0', prefixLength: 0 });
  expect(parseCidr('2001:db8:ffff::1/32')).toMatchObject({
    family: 6,
    network: '2001:db8::',
  });
  expect(parseCidr('1.2.3.4/33')).toBeNull();
  expect(parseCidr('1.2.3/8')).toBeNull();
  expect(parseCidr('01.2.3.4/08')).toBeNull();
});

test('ipv6Address (dual stack, our extension)', () => {
  expect(sanityError({ ...base, ipv6Address: '2001:db8::2' })).toBe(
    'IPv6 address CIDR sanity check failed.',
  );
  expect(validate({ ...base, ipv6Address: '2001:db8::2/64' }).value!.ipv6).toEqual({
    address: '2001:db8::2',
    prefixLength: 64,
  });
  expect(
    validate({ ...base, address: '2001:db8::1/64', ipv6Address: '2001:db8::2/64' }).errors,
  ).toBe('ipv6_address goes with an IPv4 address;');
});

// Found by the fuzzer (test/unit/validate-fuzz.test.ts; inputs kept in
// test/fuzz/validate/): each passed validation, then failed in the kernel
// or in RouteTable while being applied.
test('leading zeros and IPv6 zones are not addresses, as inet_pton says', () => {
  expect(parseCidr('01.2.3.4/8')).toBeNull();
  expect(parseCidr('137.01.189.103/19')).toBeNull();
  expect(parseCidr('10.0.0.0/8')).not.toBeNull(); // a lone 0 is fine
  expect(validate({ ...base, address: '010.10.10.10/24' }).errors).toBe(
    'address is not a valid IP;',
  );
  expect(validate({ ...base, broadcastAddress: '10.10.10.0255' }).errors).toBe(
    'broadcast_address is not a valid IP;',
  );
  const dns = validate({ ...base, dnsServers: ['08.8.8.8', 'fe80::53%eth0'] }).value!;
  expect(dns.dnsServers).toEqual(['fe80::53%eth0']); // a zone is fine for a DNS server
  expect(dns.warnings).toEqual(['08.8.8.8 for dns_servers is invalid;']);
  expect(sane('fe80::1%eth0/64', true)).toBe(false);
  expect(sanityError({ ...base, address: 'fe80::1%eth0/64' })).toBe(
    'Address CIDR sanity check failed.',
  );
  expect(sanityError({ ...base, ipv6Address: '2001:db8::2%1/64' })).toBe(
    'IPv6 address CIDR sanity check failed.',
  );
  expect(validate({ ...base, inclusionList: ['cAF::%1/8'] }).value!.warnings).toEqual([
    'cAF::%1/8 for inclusion_list is invalid;',
  ]);
});

test("a property Parameters does not have is refused with Chrome's message, named, with a code", () => {
  const thrown = (p: unknown) => {
    try {
      checkTypes(p);
    } catch (err) {
      return err as TypeError & { code?: string; property?: string };
    }
    return null;
  };
  const e = thrown({ ...base, ipv6address: '2001:db8::2/64' });
  expect(e).toBeInstanceOf(TypeError);
  expect(e?.message).toBe(
    "Error in invocation of vpnProvider.setParameters(vpnProvider.Parameters parameters, optional function callback): Error at parameter 'parameters': Unexpected property: 'ipv6address'.",
  );
  expect(e).toMatchObject({ code: 'ERR_UNEXPECTED_PROPERTY', property: 'ipv6address' });
  // Every key Parameters has passes, and one left undefined is no property.
  expect(
    thrown({
      ...base,
      broadcastAddress: '10.10.10.255',
      mtu: '1400',
      domainSearch: ['example.org'],
      reconnect: 'true',
      ipv6Address: '2001:db8::2/64',
      extra: undefined,
    }),
  ).toBeNull();
});
