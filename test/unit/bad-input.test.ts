// Bad input to every public method and to the command-line tool: wrong
// types, null, huge strings, NaN, bad enums, huge arrays, detached
// ArrayBuffers, SharedArrayBuffers, calls after close(). Each call must
// fail with the code the table says, as a class README.md documents for
// that code; never crash, never hang, and never change the configuration
// store. (With a session, the same for the calls that need one:
// test/integration/bad-input.test.ts.)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AeadKey,
  ChromeEvent,
  createPlatform,
  ReplayWindow,
  RouteTable,
  TunDevice,
  type PacketBatch,
  type Platform,
  type PlatformOptions,
  type VpnProvider,
} from '../../lib';
import { fromNative } from '../../lib/errors';
import { native } from '../../lib/native';
import {
  BAD_NUMBERS,
  check,
  detachedBuffer,
  documentedErrors,
  HUGE,
  NOT_NUMBERS,
  NOT_STRINGS,
  outcome,
  type Case,
} from '../helpers/bad-input';
import { runCli } from '../helpers/cli';
import { fakeIp } from '../helpers/packets';

jest.setTimeout(120000);

type Loose = Record<string, (...args: unknown[]) => unknown>;
const loose = (o: object) => o as unknown as Loose;

const PARAMS = { address: '10.0.0.2/24', exclusionList: [], inclusionList: [], dnsServers: [] };
const P = 'com.example.bad';

let dir: string;
let platform: Platform;
let vpn: VpnProvider;

function storeSnapshot(): string {
  return fs.readFileSync(path.join(dir, 'configs.json'), 'utf8');
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-bad-'));
  platform = createPlatform({ stateDir: dir, log: () => {} });
  vpn = platform.provider(P);
  await vpn.createConfig('office');
  await platform.provider('com.example.other').createConfig('home');
});
afterEach(async () => {
  await platform.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the cases; the store must be byte for byte as before each one. */
async function expectCases(cases: Case[]): Promise<void> {
  const before = storeSnapshot();
  const wrong = await check(cases, () =>
    storeSnapshot() === before ? null : 'the configuration store changed',
  );
  expect(wrong).toEqual([]);
  expect(platform.configs()).toHaveLength(2);
}

test('the Errors table of README.md is readable', () => {
  const { codes, errno } = documentedErrors();
  expect(codes.get('ERR_INVALID_ARG_TYPE')).toEqual(new Set(['TypeError']));
  expect(codes.get('ERR_NAME_NOT_UNIQUE')).toContain('ChromeError');
  expect(errno).toEqual(new Set(['SystemError', 'VpnError']));
});

test('vpnProvider methods', async () => {
  const v = loose(vpn);
  const cases: Case[] = [];
  for (const [what, x] of NOT_STRINGS) {
    cases.push({
      what: `createConfig(${what})`,
      run: () => v.createConfig(x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `destroyConfig(${what})`,
      run: () => v.destroyConfig(x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `notifyConnectionStateChanged(${what})`,
      run: () => v.notifyConnectionStateChanged(x),
      want: 'ERR_INVALID_ARG_VALUE',
    });
    if (x !== undefined) {
      cases.push({
        what: `setParameters(${what})`,
        run: () => v.setParameters(x),
        want: 'ERR_INVALID_ARG_TYPE',
      });
    }
    if (x !== undefined && typeof x !== 'function') {
      cases.push({
        what: `createConfig('x', ${what} as callback)`,
        run: () => v.createConfig('x', x),
        want: 'ERR_INVALID_ARG_TYPE',
      });
    }
  }
  cases.push(
    { what: "createConfig('')", run: () => v.createConfig(''), want: 'ERR_EMPTY_NAME' },
    {
      what: 'createConfig(16 MiB)',
      run: () => v.createConfig(HUGE),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    {
      what: 'createConfig(256 chars)',
      run: () => v.createConfig('n'.repeat(256)),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    {
      what: 'createConfig(escape sequence)',
      run: () => v.createConfig('\u001b[2J'),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    { what: 'createConfig(NUL)', run: () => v.createConfig('a\0b'), want: 'ERR_INVALID_ARG_VALUE' },
    {
      what: 'createConfig(office again)',
      run: () => v.createConfig('office'),
      want: 'ERR_NAME_NOT_UNIQUE',
    },
    { what: 'destroyConfig(16 MiB)', run: () => v.destroyConfig(HUGE), want: 'ERR_UNAUTHORIZED' },
    {
      what: "destroyConfig(another provider's)",
      run: () => v.destroyConfig('home'),
      want: 'ERR_UNAUTHORIZED',
    },
    {
      what: "notifyConnectionStateChanged('CONNECTED')",
      run: () => v.notifyConnectionStateChanged('CONNECTED'),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    {
      what: 'notifyConnectionStateChanged(16 MiB)',
      run: () => v.notifyConnectionStateChanged(HUGE),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    {
      what: "notifyConnectionStateChanged('connected') without a session",
      run: () => v.notifyConnectionStateChanged('connected'),
      want: 'ERR_UNAUTHORIZED',
    },
    { what: 'setParameters({})', run: () => v.setParameters({}), want: 'ERR_INVALID_ARG_TYPE' },
    { what: 'setParameters([])', run: () => v.setParameters([]), want: 'ERR_INVALID_ARG_TYPE' },
    {
      what: 'setParameters(mtu as a number)',
      run: () => v.setParameters({ ...PARAMS, mtu: 1500 }),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'setParameters(dnsServers [null])',
      run: () => v.setParameters({ ...PARAMS, dnsServers: [null] }),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'setParameters(exclusionList NaN)',
      run: () => v.setParameters({ ...PARAMS, exclusionList: NaN }),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'setParameters(domainSearch a string)',
      run: () => v.setParameters({ ...PARAMS, domainSearch: 'a.b' }),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'setParameters(address 16 MiB)',
      run: () => v.setParameters({ ...PARAMS, address: HUGE }),
      want: 'ERR_ADDRESS_SANITY',
    },
    {
      what: 'setParameters(address NUL)',
      run: () => v.setParameters({ ...PARAMS, address: '10.0.0.2/24\0' }),
      want: 'ERR_ADDRESS_SANITY',
    },
    {
      what: 'setParameters(1000001 inclusions)',
      run: () =>
        v.setParameters({ ...PARAMS, inclusionList: new Array(1_000_001).fill('10.0.0.0/8') }),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'setParameters(1000000 inclusions, no session)',
      run: () =>
        v.setParameters({ ...PARAMS, inclusionList: new Array(1_000_000).fill('10.0.0.0/8') }),
      want: 'ERR_UNAUTHORIZED',
    },
    {
      what: 'setParameters(ipv6Address zone)',
      run: () => v.setParameters({ ...PARAMS, ipv6Address: 'fe80::1%lo/64' }),
      want: 'ERR_IPV6_ADDRESS_SANITY',
    },
    {
      what: 'setParameters(valid, no session)',
      run: () => v.setParameters(PARAMS),
      want: 'ERR_UNAUTHORIZED',
    },
    // Without a session, ownership is the answer whatever the packet.
    { what: 'sendPacket(null)', run: () => v.sendPacket(null), want: 'ERR_UNAUTHORIZED' },
    {
      what: 'sendPacket(detached)',
      run: () => v.sendPacket(detachedBuffer()),
      want: 'ERR_UNAUTHORIZED',
    },
    { what: 'sendPackets(NaN)', run: () => v.sendPackets(NaN), want: 'ERR_UNAUTHORIZED' },
    {
      what: 'createConfig(callback: a number)',
      run: () => v.createConfig('cb', 1),
      want: 'ERR_INVALID_ARG_TYPE',
    },
  );
  for (const ev of [
    'onPlatformMessage',
    'onPacketReceived',
    'onPacketsReceived',
    'onConfigRemoved',
    'onConfigCreated',
    'onUIEvent',
  ]) {
    const e = (vpn as unknown as Record<string, ChromeEvent<unknown[]>>)[ev];
    cases.push({
      what: `${ev}.addListener(null)`,
      run: () => loose(e).addListener(null),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `${ev}.removeListener(42)`,
      run: () => loose(e).removeListener(42),
      want: 'ok',
    });
    cases.push({
      what: `${ev}.hasListener(undefined)`,
      run: () => loose(e).hasListener(undefined),
      want: 'ok',
    });
  }
  await expectCases(cases);
});

test('platform methods', async () => {
  const p = loose(platform);
  const cases: Case[] = [];
  for (const [what, x] of NOT_STRINGS) {
    cases.push({
      what: `provider(${what})`,
      run: () => p.provider(x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `connect(${what}, 'office')`,
      run: () => p.connect(x, 'office'),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `connect(P, ${what})`,
      run: () => p.connect(P, x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `removeConfig(P, ${what})`,
      run: () => p.removeConfig(P, x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `showAddDialog(${what})`,
      run: () => p.showAddDialog(x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `showConfigureDialog(P, ${what})`,
      run: () => p.showConfigureDialog(P, x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `createConfigFor(${what}, 'n')`,
      run: () => p.createConfigFor(x, 'n'),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `networkEvent(${what})`,
      run: () => p.networkEvent(x),
      want: 'ERR_INVALID_ARG_VALUE',
    });
    cases.push({
      what: `systemEvent(${what})`,
      run: () => p.systemEvent(x),
      want: 'ERR_INVALID_ARG_VALUE',
    });
  }
  cases.push(
    { what: "provider('')", run: () => p.provider(''), want: 'ERR_INVALID_ARG_VALUE' },
    { what: 'provider(16 MiB)', run: () => p.provider(HUGE), want: 'ERR_INVALID_ARG_VALUE' },
    { what: 'provider(newline)', run: () => p.provider('a\nb'), want: 'ERR_INVALID_ARG_VALUE' },
    { what: 'connect(unknown)', run: () => p.connect(P, 'nope'), want: 'ERR_NO_SUCH_CONFIG' },
    { what: 'connect(16 MiB)', run: () => p.connect(HUGE, HUGE), want: 'ERR_NO_SUCH_CONFIG' },
    {
      what: 'removeConfig(unknown)',
      run: () => p.removeConfig(P, 'home'),
      want: 'ERR_NO_SUCH_CONFIG',
    },
    {
      what: 'showConfigureDialog(unknown)',
      run: () => p.showConfigureDialog(P, 'nope'),
      want: 'ERR_NO_SUCH_CONFIG',
    },
    {
      what: "createConfigFor(P, 'n', null)",
      run: () => p.createConfigFor(P, 'n', null),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'createConfigFor(P, escape)',
      run: () => p.createConfigFor(P, '\u009b31m'),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    {
      what: "networkEvent('linkdown')",
      run: () => p.networkEvent('linkdown'),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    {
      what: "systemEvent('sleep')",
      run: () => p.systemEvent('sleep'),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    { what: 'disconnect(junk) without a session', run: () => p.disconnect(NaN), want: 'ok' },
    { what: 'status()', run: () => p.status(), want: 'ok' },
  );
  await expectCases(cases);
});

test('createPlatform options', async () => {
  const good = { stateDir: dir, log: () => {}, controlSocket: false };
  const cases: Case[] = [];
  const opt = (o: Record<string, unknown>) => () =>
    createPlatform({ ...good, ...o } as unknown as PlatformOptions).close();
  for (const [what, x] of NOT_STRINGS.filter(([, x]) => x !== undefined)) {
    cases.push({
      what: `stateDir ${what}`,
      run: opt({ stateDir: x }),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `interfaceName ${what}`,
      run: opt({ interfaceName: x }),
      want: 'ERR_INVALID_ARG_TYPE',
    });
  }
  for (const [what, x] of NOT_NUMBERS.filter(([, x]) => x !== undefined)) {
    cases.push({
      what: `connectTimeoutMs ${what}`,
      run: opt({ connectTimeoutMs: x }),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `routing.table ${what}`,
      run: opt({ routing: { table: x } }),
      want: 'ERR_INVALID_ARG_TYPE',
    });
  }
  for (const [what, x] of BAD_NUMBERS) {
    // A fraction of a millisecond is a timeout setTimeout takes.
    const timeout = Number.isInteger(x) || !Number.isFinite(x) ? 'ERR_OUT_OF_RANGE' : 'ok';
    cases.push({
      what: `connectTimeoutMs ${what}`,
      run: opt({ connectTimeoutMs: x }),
      want: timeout,
    });
    cases.push({
      what: `routing.priority ${what}`,
      run: opt({ routing: { priority: x } }),
      want: 'ERR_OUT_OF_RANGE',
    });
  }
  cases.push(
    {
      what: 'options null',
      run: () => createPlatform(null as unknown as PlatformOptions),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'options a string',
      run: () => createPlatform('x' as unknown as PlatformOptions),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    { what: "stateDir ''", run: opt({ stateDir: '' }), want: 'ERR_INVALID_ARG_TYPE' },
    {
      what: 'stateDir with NUL',
      run: opt({ stateDir: `${dir}\0x` }),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    { what: 'connectTimeoutMs 0', run: opt({ connectTimeoutMs: 0 }), want: 'ERR_OUT_OF_RANGE' },
    {
      what: 'interfaceName 16 bytes',
      run: opt({ interfaceName: 'a'.repeat(16) }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: 'interfaceName 16 MiB',
      run: opt({ interfaceName: HUGE }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: "interfaceName '..'",
      run: opt({ interfaceName: '..' }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: "interfaceName 'a/b'",
      run: opt({ interfaceName: 'a/b' }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: "interfaceName 'a b'",
      run: opt({ interfaceName: 'a b' }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: "interfaceName 'vpn:0'",
      run: opt({ interfaceName: 'vpn:0' }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: "interfaceName 'v%d%d'",
      run: opt({ interfaceName: 'v%d%d' }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: "interfaceName 'v%s'",
      run: opt({ interfaceName: 'v%s' }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: "interfaceName ''",
      run: opt({ interfaceName: '' }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    {
      what: "interfaceName 'é' x 8 (16 bytes)",
      run: opt({ interfaceName: 'é'.repeat(8) }),
      want: 'ERR_INVALID_INTERFACE_NAME',
    },
    { what: "interfaceName 'tun-%d'", run: opt({ interfaceName: 'tun-%d' }), want: 'ok' },
    {
      what: 'routing.table 254 (main)',
      run: opt({ routing: { table: 254 } }),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    {
      what: 'routing.table 255 (local)',
      run: opt({ routing: { table: 255 } }),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    {
      what: 'routing.table 2^32',
      run: opt({ routing: { table: 2 ** 32 } }),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'routing.priority 32766 (after main)',
      run: opt({ routing: { priority: 32766 } }),
      want: 'ERR_OUT_OF_RANGE',
    },
    { what: 'routing null', run: opt({ routing: null }), want: 'ERR_INVALID_ARG_TYPE' },
    { what: "dns 'yes'", run: opt({ dns: 'yes' }), want: 'ERR_INVALID_ARG_TYPE' },
    {
      what: 'dns { resolvConf: 1 }',
      run: opt({ dns: { resolvConf: 1 } }),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    { what: 'log a string', run: opt({ log: 'console' }), want: 'ERR_INVALID_ARG_TYPE' },
    { what: 'controlSocket 1', run: opt({ controlSocket: 1 }), want: 'ERR_INVALID_ARG_TYPE' },
    { what: "handleSignals 'no'", run: opt({ handleSignals: 'no' }), want: 'ERR_INVALID_ARG_TYPE' },
  );
  await expectCases(cases);
});

test('calls after close()', async () => {
  const v = loose(vpn);
  const p = loose(platform);
  await platform.close();
  const closed = 'ERR_PLATFORM_CLOSED';
  await expectCases([
    { what: 'createConfig', run: () => v.createConfig('later'), want: closed },
    { what: 'destroyConfig', run: () => v.destroyConfig('office'), want: closed },
    { what: 'setParameters', run: () => v.setParameters(PARAMS), want: closed },
    { what: 'sendPacket', run: () => v.sendPacket(fakeIp(40, 1)), want: closed },
    { what: 'sendPackets', run: () => v.sendPackets([fakeIp(40, 1)]), want: closed },
    {
      what: 'notifyConnectionStateChanged',
      run: () => v.notifyConnectionStateChanged('connected'),
      want: closed,
    },
    { what: 'connect', run: () => p.connect(P, 'office'), want: closed },
    { what: 'removeConfig', run: () => p.removeConfig(P, 'office'), want: closed },
    { what: 'createConfigFor', run: () => p.createConfigFor(P, 'later'), want: closed },
    { what: 'showAddDialog', run: () => p.showAddDialog(P), want: closed },
    { what: 'showConfigureDialog', run: () => p.showConfigureDialog(P, 'office'), want: closed },
    { what: 'disconnect', run: () => p.disconnect(), want: 'ok' },
    { what: 'close again', run: () => p.close(), want: 'ok' },
    { what: 'configs', run: () => p.configs(), want: 'ok' },
    {
      what: 'a new provider',
      run: () => loose(p.provider('late') as object).createConfig('x'),
      want: closed,
    },
  ]);
});

test('AeadKey and ReplayWindow', async () => {
  const key = new Uint8Array(32);
  const k = loose(new AeadKey('chacha20-poly1305', key));
  const AK = AeadKey as unknown as new (...a: unknown[]) => unknown;
  const w = loose(new ReplayWindow());
  const batch = () => ({ data: new Uint8Array(256), meta: Int32Array.of(16, 32), count: 1 });
  const detached = new Uint8Array(64);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  const closed = new AeadKey('aes-256-gcm', key);
  closed.close();
  const cases: Case[] = [];
  for (const [what, x] of NOT_STRINGS) {
    cases.push({
      what: `new AeadKey(${what})`,
      run: () => new AK(x, key),
      want: 'ERR_CRYPTO_INVALID_ALGORITHM',
    });
  }
  for (const [what, x] of [...NOT_NUMBERS, ['a string', 'abc'], ['a detached array', detached]] as [
    string,
    unknown,
  ][]) {
    cases.push({
      what: `new AeadKey(alg, ${what})`,
      run: () => new AK('chacha20-poly1305', x),
      want: x === detached ? 'ERR_BUFFER_DETACHED' : 'ERR_INVALID_ARG_TYPE',
    });
    if (x !== undefined && x !== null) {
      cases.push({ what: `seal(${what})`, run: () => k.seal(x), want: 'ERR_INVALID_ARG_TYPE' });
      cases.push({ what: `open(${what})`, run: () => k.open(x), want: 'ERR_INVALID_ARG_TYPE' });
    }
    cases.push({
      what: `seal(batch, ${what})`,
      run: () => k.seal(batch(), x),
      want:
        x === undefined ||
        (typeof x === 'object' && x !== null && x !== detached && !Array.isArray(x))
          ? 'ok'
          : 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `ReplayWindow.check(${what})`,
      run: () => w.check(x),
      want: typeof x === 'bigint' ? 'ok' : 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `open(batch, { replay: ${what} })`,
      run: () => k.open(batch(), { counterAt: 0, replay: x }),
      want: x === undefined || x === null ? 'ok' : 'ERR_INVALID_ARG_TYPE',
    });
  }
  cases.push({
    what: 'new AeadKey(alg, 31 bytes)',
    run: () => new AK('chacha20-poly1305', new Uint8Array(31)),
    want: 'ERR_CRYPTO_INVALID_KEYLEN',
  });
  cases.push({
    what: 'new AeadKey(alg, key, { next: -1n })',
    run: () => new AK('chacha20-poly1305', key, { next: -1n }),
    want: 'ERR_OUT_OF_RANGE',
  });
  cases.push({
    what: 'new AeadKey(alg, key, { limit: 1 })',
    run: () => new AK('chacha20-poly1305', key, { limit: 1 }),
    want: 'ERR_INVALID_ARG_TYPE',
  });
  for (const [what, x] of BAD_NUMBERS) {
    cases.push({
      what: `seal({ count: ${what} })`,
      run: () => k.seal({ ...batch(), count: x }),
      want: 'ERR_OUT_OF_RANGE',
    });
    cases.push({
      what: `seal({ counterAt: ${what} })`,
      run: () => k.seal(batch(), { counterAt: x }),
      want: 'ERR_OUT_OF_RANGE',
    });
    cases.push({
      what: `seal({ pad: ${what} })`,
      run: () => k.seal(batch(), { pad: x }),
      want: 'ERR_OUT_OF_RANGE',
    });
    cases.push({
      what: `open({ skip: ${what} })`,
      run: () => k.open(batch(), { counterAt: 0, skip: x }),
      want: 'ERR_OUT_OF_RANGE',
    });
  }
  cases.push({
    what: 'seal({ counterAt: -4 }) (inside the packet)',
    run: () => k.seal(batch(), { counterAt: -4 }),
    want: 'ERR_OUT_OF_RANGE',
  });
  cases.push({
    what: 'seal of a detached batch',
    run: () => k.seal({ ...batch(), data: detached }),
    want: 'ERR_BUFFER_DETACHED',
  });
  cases.push({
    what: 'seal with meta a Uint32Array',
    run: () => k.seal({ ...batch(), meta: new Uint32Array(2) }),
    want: 'ERR_INVALID_ARG_TYPE',
  });
  cases.push({
    what: 'seal with entries out of range',
    run: () => k.seal(batch(), { entries: Int32Array.of(1) }),
    want: 'ERR_OUT_OF_RANGE',
  });
  cases.push({
    what: 'seal with verdicts too short',
    run: () =>
      k.seal(
        { ...batch(), meta: Int32Array.of(0, 1, 2, 1), count: 2 },
        { verdicts: new Uint8Array(1) },
      ),
    want: 'ERR_OUT_OF_RANGE',
  });
  cases.push({
    what: 'open without a counter source',
    run: () => k.open(batch()),
    want: 'ERR_INVALID_ARG_TYPE',
  });
  cases.push({
    what: 'open with counters a BigInt64Array',
    run: () => k.open(batch(), { counters: new BigInt64Array(1) }),
    want: 'ERR_INVALID_ARG_TYPE',
  });
  cases.push({
    what: 'seal on a closed key',
    run: () => loose(closed).seal(batch()),
    want: 'ERR_KEY_CLOSED',
  });
  cases.push({
    what: 'ReplayWindow.check(2n ** 64n)',
    run: () => w.check(2n ** 64n),
    want: 'ERR_OUT_OF_RANGE',
  });
  cases.push({
    what: 'ReplayWindow.update(-1n)',
    run: () => w.update(-1n),
    want: 'ERR_OUT_OF_RANGE',
  });
  await expectCases(cases);
});

test('RouteTable', async () => {
  const t = new RouteTable();
  t.insert('10.0.0.0/8', 1);
  const rt = loose(t);
  const RT = RouteTable as unknown as Loose;
  const u32 = new Uint32Array(4);
  const i32 = new Int32Array(4);
  const sab32 = new Uint32Array(new SharedArrayBuffer(16));
  const sabOut = new Int32Array(new SharedArrayBuffer(16));
  const detached32 = new Uint32Array(16);
  structuredClone(detached32.buffer, { transfer: [detached32.buffer] });
  const detached8 = new Uint8Array(64);
  structuredClone(detached8.buffer, { transfer: [detached8.buffer] });
  const cases: Case[] = [];
  for (const [what, x] of NOT_STRINGS) {
    cases.push({
      what: `insert(${what}, 1)`,
      run: () => rt.insert(x, 1),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({ what: `delete(${what})`, run: () => rt.delete(x), want: 'ERR_INVALID_ARG_TYPE' });
    cases.push({ what: `get(${what})`, run: () => rt.get(x), want: 'ERR_INVALID_ARG_TYPE' });
    cases.push({
      what: `normalize(${what})`,
      run: () => RT.normalize(x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    if (typeof x !== 'number') {
      cases.push({
        what: `lookup(${what})`,
        run: () => rt.lookup(x),
        want: 'ERR_INVALID_ARG_TYPE',
      });
      cases.push({
        what: `lookupPrefix(${what})`,
        run: () => rt.lookupPrefix(x),
        want: 'ERR_INVALID_ARG_TYPE',
      });
    }
    cases.push({
      what: `lookupBatch4(${what}, out)`,
      run: () => rt.lookupBatch4(x, i32),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    // (An array of strings is the right type: ['a'] is a bad CIDR.)
    const list = Array.isArray(x) ? 'ERR_INVALID_CIDR' : 'ERR_INVALID_ARG_TYPE';
    cases.push({ what: `insertMany(${what}, 1)`, run: () => rt.insertMany(x, 1), want: list });
    cases.push({ what: `from(${what})`, run: () => RT.from(x), want: 'ERR_INVALID_ARG_TYPE' });
    cases.push({ what: `fromAsync(${what}, 1)`, run: () => RT.fromAsync(x, 1), want: list });
  }
  for (const [what, x] of NOT_NUMBERS) {
    cases.push({
      what: `insert(cidr, ${what})`,
      run: () => rt.insert('10.0.0.0/8', x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
  }
  for (const [what, x] of BAD_NUMBERS) {
    cases.push({
      what: `insert(cidr, ${what})`,
      run: () => rt.insert('10.0.0.0/8', x),
      want: 'ERR_OUT_OF_RANGE',
    });
    cases.push({ what: `lookup(${what})`, run: () => rt.lookup(x), want: 'ERR_OUT_OF_RANGE' });
    cases.push({
      what: `insertMany([cidr], [${what}])`,
      run: () => rt.insertMany(['1.0.0.0/8'], [x]),
      want: 'ERR_OUT_OF_RANGE',
    });
    cases.push({
      what: `classify(count ${what})`,
      run: () => rt.classify(new Uint8Array(64), new Int32Array(8), x, i32),
      want: 'ERR_OUT_OF_RANGE',
    });
  }
  cases.push(
    { what: 'insert(16 MiB, 1)', run: () => rt.insert(HUGE, 1), want: 'ERR_INVALID_CIDR' },
    { what: 'insert(NUL)', run: () => rt.insert('10.0.0.0/8\0', 1), want: 'ERR_INVALID_CIDR' },
    { what: 'insert(/33)', run: () => rt.insert('10.0.0.0/33', 1), want: 'ERR_INVALID_CIDR' },
    { what: 'lookup(16 MiB)', run: () => rt.lookup(HUGE), want: 'ERR_INVALID_IP' },
    { what: 'lookup(2^32)', run: () => rt.lookup(2 ** 32), want: 'ERR_OUT_OF_RANGE' },
    {
      what: 'lookupBatch4(out shorter)',
      run: () => rt.lookupBatch4(new Uint32Array(8), i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'lookupBatch4(Float64Array)',
      run: () => rt.lookupBatch4(new Float64Array(4), i32),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'lookupBatch4(out a Uint32Array)',
      run: () => rt.lookupBatch4(u32, u32),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    { what: 'lookupBatch4(detached)', run: () => rt.lookupBatch4(detached32, i32), want: 'ok' },
    {
      what: 'lookupBatch4(SharedArrayBuffers)',
      run: () => rt.lookupBatch4(sab32, sabOut),
      want: 'ok',
    },
    {
      what: 'lookupBatch6(15 bytes)',
      run: () => rt.lookupBatch6(new Uint8Array(15), i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'lookupBatch6(out shorter)',
      run: () => rt.lookupBatch6(new Uint8Array(16 * 8), i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'classify(meta shorter than 2 count)',
      run: () => rt.classify(new Uint8Array(64), new Int32Array(3), 2, i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'classify(out shorter)',
      run: () => rt.classify(new Uint8Array(64), new Int32Array(16), 8, i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'classify(a pair past the data)',
      run: () => rt.classify(new Uint8Array(64), Int32Array.of(60, 20), 1, i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'classify(a negative offset)',
      run: () => rt.classify(new Uint8Array(64), Int32Array.of(-4, 20), 1, i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'classify(a negative length)',
      run: () => rt.classify(new Uint8Array(64), Int32Array.of(0, -1), 1, i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'classify(offset + length overflows int32)',
      run: () => rt.classify(new Uint8Array(64), Int32Array.of(0x7fffffff, 0x7fffffff), 1, i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'classify(detached data, count 1)',
      run: () => rt.classify(detached8, Int32Array.of(0, 20), 1, i32),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'insertMany(values count mismatch)',
      run: () => rt.insertMany(['1.0.0.0/8', '2.0.0.0/8'], [1]),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'insertMany(Int32Array count mismatch)',
      run: () => rt.insertMany(['1.0.0.0/8'], new Int32Array(3)),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'insertMany(an entry with a newline)',
      run: () => rt.insertMany(['1.0.0.0/8\n2.0.0.0/8'], 1),
      want: 'ERR_INVALID_CIDR',
    },
    {
      what: 'insertMany(1000000 bad entries)',
      run: () => rt.insertMany(new Array(1_000_000).fill('x'), 1),
      want: 'ERR_INVALID_CIDR',
    },
    {
      what: 'insertMany(1000000 entries, one not a string)',
      run: () => rt.insertMany([...new Array(999_999).fill('1.0.0.0/8'), 7], 1),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    { what: 'from([[cidr]])', run: () => RT.from([['1.0.0.0/8']]), want: 'ERR_INVALID_ARG_TYPE' },
    {
      what: 'from([[cidr, NaN]])',
      run: () => RT.from([['1.0.0.0/8', NaN]]),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'fromAsync(bad entry)',
      run: () => RT.fromAsync(['1.0.0.0/8', 'nope'], 1),
      want: 'ERR_INVALID_CIDR',
    },
    {
      what: 'fromAsync([16 MiB], 1)',
      run: () => RT.fromAsync([HUGE], 1),
      want: 'ERR_INVALID_CIDR',
    },
  );
  await expectCases(cases);
  // The table is as it was.
  expect([...t]).toEqual([['10.0.0.0/8', 1]]);
});

test('TunDevice and the addon underneath: every length given from JS is checked', async () => {
  const [fa, fb] = native.socketpair();
  const dev = TunDevice.fromFd(fa);
  const peer = TunDevice.fromFd(fb);
  const received: number[] = [];
  peer.onPacketsReceived.addListener((b: PacketBatch) => received.push(b.count));
  const d = loose(dev);
  const good = fakeIp(40, 1);
  const sab = new Uint8Array(new SharedArrayBuffer(40));
  sab.set(good);
  const detachedView = fakeIp(40, 3);
  structuredClone(detachedView.buffer, { transfer: [detachedView.buffer as ArrayBuffer] });
  // The native surface as lib/ uses it: its errors through fromNative.
  const n = (f: () => unknown) => () => {
    try {
      return f();
    } catch (err) {
      throw fromNative(err);
    }
  };
  const cases: Case[] = [];
  for (const [what, x] of NOT_STRINGS.filter(([, x]) => x !== undefined)) {
    cases.push({
      what: `sendPacket(${what})`,
      run: () => d.sendPacket(x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `sendPackets(${what})`,
      run: () => d.sendPackets(x),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `sendPackets([${what}])`,
      run: () => d.sendPackets([x]),
      want: 'ERR_INVALID_ARG_TYPE',
    });
    cases.push({
      what: `trySendPackets([${what}])`,
      run: () => d.trySendPackets([x]),
      want: 'ERR_INVALID_ARG_TYPE',
    });
  }
  cases.push(
    {
      what: 'sendPacket(empty)',
      run: () => d.sendPacket(new Uint8Array(0)),
      want: 'ERR_EMPTY_PACKET',
    },
    {
      what: 'sendPacket(65536 bytes)',
      run: () => d.sendPacket(new Uint8Array(65536).fill(0x45)),
      want: 'ERR_PACKET_TOO_LARGE',
    },
    {
      what: 'sendPacket(16 MiB)',
      run: () => d.sendPacket(Buffer.from(HUGE)),
      want: 'ERR_PACKET_TOO_LARGE',
    },
    {
      what: 'sendPacket(first nibble 7)',
      run: () => d.sendPacket(Uint8Array.of(0x70, 1, 2)),
      want: 'ERR_NOT_IP_PACKET',
    },
    {
      what: 'sendPacket(detached)',
      run: () => d.sendPacket(detachedBuffer()),
      want: 'ERR_BUFFER_DETACHED',
    },
    {
      what: 'sendPacket(detached view)',
      run: () => d.sendPacket(detachedView),
      want: 'ERR_BUFFER_DETACHED',
    },
    {
      what: 'sendPacket(a string)',
      run: () => d.sendPacket('E'.repeat(40)),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    { what: 'sendPacket(SharedArrayBuffer view)', run: () => d.sendPacket(sab), want: 'ok' },
    // A SharedArrayBuffer itself is no ArrayBuffer (PacketData): a view on one is the way.
    {
      what: 'sendPacket(SharedArrayBuffer)',
      run: () => d.sendPacket(sab.buffer),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'sendPackets(1000000 packets, the last empty)',
      run: () => d.sendPackets([...new Array(999_999).fill(good), new Uint8Array(0)]),
      want: 'ERR_EMPTY_PACKET',
    },
    {
      what: 'sendPackets(a sparse array)',
      run: () => d.sendPackets(new Array(3)),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'trySendPackets(start NaN)',
      run: () => d.trySendPackets([good], NaN),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'trySendPackets(start past the end)',
      run: () => d.trySendPackets([good], 2),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'trySendPackets(start -1)',
      run: () => d.trySendPackets([good], -1),
      want: 'ERR_OUT_OF_RANGE',
    },
    // The native handle underneath, with lengths that do not fit.
    {
      what: 'counters(Float64Array of 3)',
      run: n(() =>
        loose(native.Tun.prototype).counters.call(
          dev['handle' as keyof TunDevice],
          new Float64Array(3),
        ),
      ),
      want: 'ERR_INVALID_ARG_TYPE',
    },
    {
      what: 'new Tun(fd, batchSize 0)',
      run: n(() => new native.Tun(999999, { batchSize: 0, slabSize: 1 << 20 })),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'new Tun(fd, batchSize 2^32)',
      run: n(() => new native.Tun(999999, { batchSize: 2 ** 32, slabSize: 1 << 20 })),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'new Tun(fd, slabSize 1 KiB)',
      run: n(() => new native.Tun(999999, { batchSize: 8, slabSize: 1024 })),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'new Tun(fd, slabSize 1 GiB)',
      run: n(() => new native.Tun(999999, { batchSize: 8, slabSize: 2 ** 30 })),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'new Tun(-1)',
      run: n(() => new native.Tun(-1, { batchSize: 8, slabSize: 1 << 20 })),
      want: 'ERR_OUT_OF_RANGE',
    },
    {
      what: 'lockFile(NUL)',
      run: n(() => native.lockFile(path.join(dir, 'x\0y'))),
      want: 'ERR_INVALID_ARG_VALUE',
    },
    { what: "lockFile('')", run: n(() => native.lockFile('')), want: 'ERR_INVALID_ARG_VALUE' },
    { what: 'unlockFile(NaN)', run: n(() => native.unlockFile(NaN)), want: 'ERR_OUT_OF_RANGE' },
    { what: 'unlockFile(-1)', run: n(() => native.unlockFile(-1)), want: 'ERR_OUT_OF_RANGE' },
    {
      what: 'peerCredentials(NaN)',
      run: n(() => native.peerCredentials(NaN)),
      want: 'ERR_OUT_OF_RANGE',
    },
    { what: 'linkInfo(NaN)', run: n(() => native.linkInfo(NaN)), want: 'ERR_OUT_OF_RANGE' },
    { what: 'linkInfo(0)', run: n(() => native.linkInfo(0)), want: 'ERR_OUT_OF_RANGE' },
    { what: 'linkIndex(NUL)', run: n(() => native.linkIndex('lo\0junk')), want: 'ENODEV' },
    { what: 'linkIndex(16 MiB)', run: n(() => native.linkIndex(HUGE)), want: 'ENODEV' },
  );
  await expectCases(cases);
  // Only the packet on a SharedArrayBuffer went through; nothing of the refused batches.
  await new Promise((r) => setTimeout(r, 50));
  expect(received.reduce((a, b) => a + b, 0)).toBe(1);
  expect(dev.counters().txPackets).toBe(1);
  dev.close();
  await expectCases([
    { what: 'sendPacket after close', run: () => d.sendPacket(good), want: 'ERR_DEVICE_CLOSED' },
    {
      what: 'sendPackets after close',
      run: () => d.sendPackets([good]),
      want: 'ERR_DEVICE_CLOSED',
    },
    {
      what: 'trySendPackets after close',
      run: () => d.trySendPackets([good]),
      want: 'ERR_DEVICE_CLOSED',
    },
    { what: 'counters after close', run: () => d.counters(), want: 'ok' },
    {
      what: 'ref, unref, pause, resume after close',
      run: () => [d.ref(), d.unref(), d.pause(), d.resume()],
      want: 'ok',
    },
    { what: 'close again', run: () => d.close(), want: 'ok' },
  ]);
  peer.close();
});

test('a batch read after its listener returned, and packet indexes out of range', async () => {
  const [fa, fb] = native.socketpair();
  const a = TunDevice.fromFd(fa);
  const b = TunDevice.fromFd(fb);
  let kept: PacketBatch | null = null;
  const inside: string[] = [];
  const got = new Promise<void>((resolve) =>
    b.onPacketsReceived.addListener((batch) => {
      const bb = loose(batch);
      for (const i of [NaN, -1, batch.count, 2 ** 32, '0', null]) {
        try {
          bb.packet(i);
          inside.push(`packet(${String(i)}): ok`);
        } catch (err) {
          inside.push(`packet(${String(i)}): ${(err as { code: string }).code}`);
        }
      }
      kept = batch;
      resolve();
    }),
  );
  await a.sendPacket(fakeIp(40, 2));
  await got;
  expect(inside).toEqual([
    'packet(NaN): ERR_OUT_OF_RANGE',
    'packet(-1): ERR_OUT_OF_RANGE',
    'packet(1): ERR_OUT_OF_RANGE',
    'packet(4294967296): ERR_OUT_OF_RANGE',
    'packet(0): ok', // '0' >= 0 && '0' < count: a numeric string is an index, as in arrays
    'packet(null): ok', // null is 0, as in arrays
  ]);
  expect(
    await check([
      { what: 'packet(0) later', run: () => kept!.packet(0), want: 'ERR_OUT_OF_RANGE' },
    ]),
  ).toEqual([]);
  a.close();
  b.close();
});

test('the command-line tool and the control socket', async () => {
  const cli = (...argv: string[]) => runCli(dir, ...argv);
  const usage = [
    [],
    ['frobnicate'],
    [HUGE.slice(0, 1 << 20)],
    ['connect'],
    ['connect', 'a', 'b'],
    ['list', '--watch'],
    ['list', '--provider'],
    ['list', '--nope'],
  ];
  for (const argv of usage) {
    const r = await cli(...argv);
    expect([argv.join(' ').slice(0, 40), r.code]).toEqual([argv.join(' ').slice(0, 40), 2]);
  }
  const before = storeSnapshot();
  for (const [argv, code, err] of [
    [['connect', 'nope'], 1, /No configuration "nope"/],
    [['forget', HUGE.slice(0, 60000)], 1, /No configuration/],
    [['forget', HUGE.slice(0, 70000)], 1, /Request too long/],
    [['connect', '\u001b[2J'], 1, /No configuration/],
    [['create', '\u001b[2J', '--provider', P], 1, /control character/],
  ] as const) {
    const r = await cli(...argv);
    const what = argv.join(' ').slice(0, 40);
    expect([what, r.code, err.test(r.err), r.err.trimEnd().split('\n').length]).toEqual([
      what,
      code,
      true,
      1,
    ]);
  }
  const r = await runCli(`${dir}\0x`, 'list');
  expect(r.code).toBe(1);
  expect(storeSnapshot()).toBe(before);

  // Raw requests on the socket: each answered with a code, the socket still serving.
  const raw = (line: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = net.connect(path.join(dir, 'control.sock'));
      let buf = '';
      s.on('data', (d) => {
        buf += d;
        if (buf.includes('\n')) {
          s.destroy();
          resolve(buf.trim());
        }
      });
      s.on('error', reject);
      s.write(line);
    });
  const answers: string[] = [];
  for (const line of [
    'not json\n',
    'null\n',
    '[]\n',
    '42\n',
    '{"cmd": 42}\n',
    '{"cmd": "connect", "name": {"x": 1}}\n',
    '{"cmd": "connect", "name": "office", "provider": ["p"]}\n',
    '{"cmd": "nope"}\n',
    '{"cmd": "connect"}\n',
    `{"cmd": "connect", "name": "${'x'.repeat(70000)}"}\n`,
  ]) {
    answers.push(JSON.parse(await raw(line)).error.code);
  }
  expect(answers).toEqual([...new Array(9).fill('ERR_BAD_REQUEST'), 'ERR_TOO_LONG']);
  expect(JSON.parse(await raw('{"cmd": "list"}\n')).ok).toBe(true);
  expect(storeSnapshot()).toBe(before);
});

// Bugs found here in the packet path, now fixed; each test states the
// behaviour wanted.
describe('packet path: what a getter or a bad fd could do', () => {
  // Core::WriteBatch checked each packet and kept a pointer to its bytes
  // while it walked the array; an element's getter ran JS in between, which
  // could detach (transfer) or shrink an earlier packet's buffer. The write
  // then read memory the caller no longer owned (bytes that failed no
  // check, first nibble 9) or memory that was gone (EFAULT, reported as a
  // device failure). Now every element is fetched first, then the bytes.
  test('a getter that detaches an earlier packet: ERR_BUFFER_DETACHED, nothing written', async () => {
    const [fa, fb] = native.socketpair();
    const dev = TunDevice.fromFd(fa);
    const peer = TunDevice.fromFd(fb);
    const seen: number[] = [];
    peer.onPacketsReceived.addListener((b) => {
      for (let i = 0; i < b.count; i++) seen.push(b.packet(i)[0]);
    });
    try {
      const first = fakeIp(64, 1);
      const packets = [first, fakeIp(64, 2)];
      Object.defineProperty(packets, 1, {
        get() {
          const moved = structuredClone(first.buffer, {
            transfer: [first.buffer as ArrayBuffer],
          });
          new Uint8Array(moved).fill(0x99); // the old owner's bytes, changed after the check
          return fakeIp(64, 2);
        },
      });
      const o = await outcome(() => dev.sendPackets(packets));
      await new Promise((r) => setTimeout(r, 50));
      expect([o.ok ? 'ok' : o.code, seen]).toEqual(['ERR_BUFFER_DETACHED', []]);
    } finally {
      dev.close();
      peer.close();
    }
  });

  test('a getter that shrinks a resizable buffer: refused as a bad packet, the device fine', async () => {
    const [fa, fb] = native.socketpair();
    const dev = TunDevice.fromFd(fa);
    const peer = TunDevice.fromFd(fb);
    try {
      const rab = new (
        ArrayBuffer as unknown as new (
          n: number,
          o: { maxByteLength: number },
        ) => ArrayBuffer & { resize(n: number): void }
      )(1 << 20, { maxByteLength: 1 << 20 });
      new Uint8Array(rab).fill(0x45);
      const packets = [new Uint8Array(rab, 0, 60000), fakeIp(64, 2)];
      Object.defineProperty(packets, 1, {
        get() {
          rab.resize(0);
          return fakeIp(64, 2);
        },
      });
      const o = await outcome(() => dev.sendPackets(packets));
      // Was: SystemError EFAULT from write(), which a session takes for a dead device.
      expect(o.ok ? 'ok' : o.code).toMatch(/^ERR_/);
    } finally {
      dev.close();
      peer.close();
    }
  });

  // TunDevice.fromFd and new Tun() took any number: Int32Value made NaN
  // fd 0, so fromFd(NaN) wrapped stdin, and on failure closed it.
  test('fromFd(NaN) is refused and leaves fd 0 alone', () => {
    const script = `
      const fs = require('fs');
      const { TunDevice } = require(${JSON.stringify(path.join(__dirname, '../../dist'))});
      let code = 'ok';
      try { TunDevice.fromFd(NaN).close(); } catch (e) { code = e.code; }
      let stdin = 'open';
      try { fs.fstatSync(0); } catch { stdin = 'closed'; }
      process.stdout.write(JSON.stringify({ code, stdin }));`;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    expect(JSON.parse(r.stdout)).toEqual({ code: 'ERR_OUT_OF_RANGE', stdin: 'open' });
  });
});
