// Bad input to the calls that need a session (test/unit/bad-input.test.ts
// has the rest): setParameters past the ownership check, sendPacket and
// sendPackets with bad packets, and the native calls that change the
// network, each with lengths and values that do not fit. A refused call
// leaves the session as it was: still active, its routes in place.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform, type VpnProvider } from '../../lib';
import { fromNative } from '../../lib/errors';
import { native, ROUTE_UNICAST } from '../../lib/native';
import { check, detachedBuffer, HUGE, type Case } from '../helpers/bad-input';
import { kernelState, NOTHING } from '../helpers/leftovers';
import { describeNetns } from '../helpers/netns';
import { fakeIp } from '../helpers/packets';

jest.setTimeout(60000);

type Loose = Record<string, (...args: unknown[]) => unknown>;
const P = 'com.example.bad';
const PARAMS = {
  address: '10.81.0.2/24',
  exclusionList: ['198.18.9.0/24'],
  inclusionList: ['198.18.0.0/16'],
  dnsServers: [],
};

/** A native call as lib/ makes it: its errors through fromNative. */
const n = (f: () => unknown) => async () => {
  try {
    return await f();
  } catch (err) {
    throw fromNative(err);
  }
};

describeNetns('bad input during a session', () => {
  let dir: string;
  let platform: Platform;
  let vpn: VpnProvider;

  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-bad-'));
    platform = createPlatform({ stateDir: dir, log: () => {}, dns: false });
    vpn = platform.provider(P);
    await vpn.createConfig('c');
    await platform.connect(P, 'c');
    await vpn.setParameters(PARAMS);
  });
  afterEach(async () => {
    await platform.close();
    fs.rmSync(dir, { recursive: true, force: true });
    expect(kernelState()).toEqual(NOTHING);
  });

  /** The cases; after each the session is the same and its kernel state too. */
  async function expectCases(cases: Case[]): Promise<void> {
    const state = kernelState();
    const session = JSON.stringify(platform.session);
    const wrong = await check(cases, () => {
      if (JSON.stringify(platform.session) !== session) return 'the session changed';
      if (JSON.stringify(kernelState()) !== JSON.stringify(state)) return 'the kernel changed';
      return null;
    });
    expect(wrong).toEqual([]);
  }

  test('setParameters, past the ownership check', async () => {
    const v = vpn as unknown as Loose;
    const bad = 'ERR_INVALID_PARAMETERS';
    await expectCases([
      {
        what: 'address 1.../0 (passes the character check)',
        run: () => v.setParameters({ ...PARAMS, address: '1.../0' }),
        want: bad,
      },
      {
        what: 'address 999.0.0.1/24',
        run: () => v.setParameters({ ...PARAMS, address: '999.0.0.1/24' }),
        want: bad,
      },
      {
        what: 'address 010.0.0.1/24',
        run: () => v.setParameters({ ...PARAMS, address: '010.0.0.1/24' }),
        want: bad,
      },
      { what: "mtu 'NaN'", run: () => v.setParameters({ ...PARAMS, mtu: 'NaN' }), want: bad },
      {
        what: 'mtu 16 MiB of digits',
        run: () => v.setParameters({ ...PARAMS, mtu: '9'.repeat(16 << 20) }),
        want: bad,
      },
      { what: 'mtu 575', run: () => v.setParameters({ ...PARAMS, mtu: '575' }), want: bad },
      {
        what: "reconnect 'yes'",
        run: () => v.setParameters({ ...PARAMS, reconnect: 'yes' }),
        want: bad,
      },
      {
        what: 'broadcastAddress 16 MiB',
        run: () => v.setParameters({ ...PARAMS, broadcastAddress: HUGE }),
        want: bad,
      },
      {
        what: 'domainSearch []',
        run: () => v.setParameters({ ...PARAMS, domainSearch: [] }),
        want: bad,
      },
      {
        what: 'domainSearch [blank]',
        run: () => v.setParameters({ ...PARAMS, domainSearch: ['  '] }),
        want: bad,
      },
      {
        what: 'ipv6Address with an IPv6 address',
        run: () =>
          v.setParameters({ ...PARAMS, address: '2001:db8::2/64', ipv6Address: '2001:db8::3/64' }),
        want: bad,
      },
    ]);
    // Invalid list entries are dropped with a warning, and the rest applies.
    const r = await vpn.setParameters({
      ...PARAMS,
      // Both pass Chrome's character check (digits, three dots, a slash), not the parser.
      inclusionList: ['198.18.0.0/16', '1.2.3.4/99', `${'1'.repeat(1 << 20)}.1.1.1/8`],
    });
    expect(r.warnings).toHaveLength(2);
    expect(platform.routes!.lookup('198.18.1.1')).toBe(1);
  });

  test('packets into the session', async () => {
    const v = vpn as unknown as Loose;
    const detachedView = fakeIp(40, 3);
    structuredClone(detachedView.buffer, { transfer: [detachedView.buffer as ArrayBuffer] });
    await expectCases([
      { what: 'sendPacket(null)', run: () => v.sendPacket(null), want: 'ERR_INVALID_ARG_TYPE' },
      {
        what: "sendPacket('packet')",
        run: () => v.sendPacket('E'.repeat(40)),
        want: 'ERR_INVALID_ARG_TYPE',
      },
      { what: 'sendPacket(NaN)', run: () => v.sendPacket(NaN), want: 'ERR_INVALID_ARG_TYPE' },
      {
        what: 'sendPacket(empty)',
        run: () => v.sendPacket(new ArrayBuffer(0)),
        want: 'ERR_EMPTY_PACKET',
      },
      {
        what: 'sendPacket(detached)',
        run: () => v.sendPacket(detachedBuffer()),
        want: 'ERR_EMPTY_PACKET', // its byteLength is 0: Chrome's check comes first
      },
      {
        what: 'sendPacket(detached view)',
        run: () => v.sendPacket(detachedView),
        want: 'ERR_EMPTY_PACKET',
      },
      {
        what: 'sendPacket(16 MiB)',
        run: () => v.sendPacket(Buffer.from(HUGE)),
        want: 'ERR_PACKET_TOO_LARGE',
      },
      {
        what: 'sendPacket(first nibble 5)',
        run: () => v.sendPacket(Uint8Array.of(0x50, 0, 0, 20)),
        want: 'ERR_NOT_IP_PACKET',
      },
      { what: 'sendPackets(null)', run: () => v.sendPackets(null), want: 'ERR_INVALID_ARG_TYPE' },
      { what: 'sendPackets([{}])', run: () => v.sendPackets([{}]), want: 'ERR_INVALID_ARG_TYPE' },
      {
        what: 'sendPackets(1000000, the last empty)',
        run: () => v.sendPackets([...new Array(999_999).fill(fakeIp(40, 1)), new Uint8Array(0)]),
        want: 'ERR_EMPTY_PACKET',
      },
    ]);
    expect(platform.status().counters!.outPackets).toBe(0); // nothing of it was written
  });

  test('the native calls that change the network check what they are given', async () => {
    const ifindex = native.linkIndex(platform.session!.interfaceName);
    const routes = (o: object) =>
      n(() => native.changeRoutes(o as Parameters<typeof native.changeRoutes>[0]));
    const base = { table: 30100, add: true, ifindex };
    await expectCases([
      {
        what: 'changeRoutes(types shorter than cidrs)',
        run: routes({
          ...base,
          cidrs: ['198.19.0.0/16', '198.19.1.0/24'],
          types: Uint8Array.of(ROUTE_UNICAST),
        }),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'changeRoutes(types longer than cidrs)',
        run: routes({ ...base, cidrs: [], types: new Uint8Array(5) }),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'changeRoutes(types an Int8Array)',
        run: routes({ ...base, cidrs: ['198.19.0.0/16'], types: Int8Array.of(1) }),
        want: 'ERR_INVALID_ARG_TYPE',
      },
      {
        what: 'changeRoutes(type 5)',
        run: routes({ ...base, cidrs: ['198.19.0.0/16'], types: Uint8Array.of(5) }),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'changeRoutes(a CIDR with a NUL)',
        run: routes({ ...base, cidrs: ['198.19.0.0/16\0x'], types: Uint8Array.of(1) }),
        want: 'ERR_INVALID_CIDR',
      },
      {
        what: 'changeRoutes(16 MiB CIDR)',
        run: routes({ ...base, cidrs: [HUGE], types: Uint8Array.of(1) }),
        want: 'ERR_INVALID_CIDR',
      },
      {
        what: 'changeRoutes(a CIDR not a string)',
        run: routes({ ...base, cidrs: [42], types: Uint8Array.of(1) }),
        want: 'ERR_INVALID_CIDR',
      },
      {
        what: 'changeRoutes(/33)',
        run: routes({ ...base, cidrs: ['198.19.0.0/33'], types: Uint8Array.of(1) }),
        want: 'ERR_INVALID_CIDR',
      },
      {
        what: 'changeRoutes(table NaN)',
        run: routes({ ...base, table: NaN, cidrs: [], types: new Uint8Array(0) }),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'changeRoutes(table 2^32)',
        run: routes({ ...base, table: 2 ** 32, cidrs: [], types: new Uint8Array(0) }),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'setLink(mtu 2^31)',
        run: n(() => native.setLink({ ifindex, mtu: 2 ** 31 })),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'setLink(ifindex NaN)',
        run: n(() => native.setLink({ ifindex: NaN })),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: "setLink(up 'yes')",
        run: n(() => native.setLink({ ifindex, up: 'yes' as unknown as boolean })),
        want: 'ERR_INVALID_ARG_TYPE',
      },
      {
        what: 'addAddress(prefix 33)',
        run: n(() => native.addAddress({ ifindex, address: '10.81.0.9', prefixLength: 33 })),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'addAddress(address with a NUL)',
        run: n(() => native.addAddress({ ifindex, address: '10.81.0.9\0junk', prefixLength: 24 })),
        want: 'ERR_INVALID_IP',
      },
      {
        what: 'addAddress(16 MiB)',
        run: n(() => native.addAddress({ ifindex, address: HUGE, prefixLength: 24 })),
        want: 'ERR_INVALID_IP',
      },
      {
        what: 'addAddress(IPv6 broadcast)',
        run: n(() =>
          native.addAddress({
            ifindex,
            address: '2001:db8::9',
            prefixLength: 64,
            broadcast: '10.0.0.255',
          }),
        ),
        want: 'ERR_INVALID_ARG_VALUE',
      },
      {
        what: 'addRule(family 5)',
        run: n(() => native.addRule({ family: 5 as 4, table: 30100, priority: 30100 })),
        want: 'ERR_INVALID_ARG_VALUE',
      },
      {
        what: 'addRule(priority -1)',
        run: n(() => native.addRule({ family: 4, table: 30100, priority: -1 })),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'flushTable(table 0)',
        run: n(() => native.flushTable({ table: 0 })),
        want: 'ERR_OUT_OF_RANGE',
      },
      {
        what: 'flushRules(table "x")',
        run: n(() => native.flushRules({ table: 'x' as unknown as number })),
        want: 'ERR_INVALID_ARG_TYPE',
      },
    ]);
  });
});
