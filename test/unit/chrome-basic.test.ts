// Chrome's own vpnProvider API tests (chrome/test/data/extensions/api_test/
// vpn_provider/basic.js: comboSuite), ported as written: callbacks with
// runtime.lastError in place of chrome.runtime.lastError. Nothing is
// connected, so every call that needs the session is "Unauthorized access.".
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, runtime, type Platform, type VpnProvider } from '../../lib';

let dir: string;
let platform: Platform;
let vpn: VpnProvider;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-chrome-'));
  platform = createPlatform({ stateDir: dir, log: () => {} });
  vpn = platform.provider('com.example.basic');
});
afterEach(async () => {
  await platform.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Calls fn(callback) and resolves with lastError's message (undefined when none) and the result. */
function call<T>(fn: (cb: (r?: T) => void) => void): Promise<{ error?: string; result?: T }> {
  return new Promise((resolve) =>
    fn((result?: T) => resolve({ error: runtime.lastError?.message, result })),
  );
}

test('createConfigFailures', async () => {
  expect((await call((cb) => vpn.createConfig('some config name', cb))).error).toBeUndefined();
  expect((await call((cb) => vpn.createConfig('some config name', cb))).error).toBe(
    'Name not unique.',
  );
  expect((await call((cb) => vpn.createConfig('', cb))).error).toBe('Empty name not supported.');
});

test('destroyConfigFailures', async () => {
  expect((await call((cb) => vpn.destroyConfig('nonexistent', cb))).error).toBe(
    'Unauthorized access.',
  );
});

test('setParameterFailures: the 27 cases of Chrome, in order', async () => {
  const errors = [
    'Address CIDR sanity check failed.',
    'DNS server IP sanity check failed.',
    'Unauthorized access.',
  ];
  const cases: [number, string, string][] = [
    [0, '1+++', ''], [0, '1', ''], [0, '1..', ''], [0, '1...', ''], [0, '1.../', ''],
    [1, '1.../0', ''], [1, '1.../0', '1.../'], [2, '1.../0', '1...'],
    [0, '.../', '...'], [0, '0.../', '...'], [1, '0.../0', '...'], [2, '0.../0', '...0'],
    [0, '1...:::/1279abe', ''], [0, '1.../1279abcde', ''], [0, '1...abcde/1279', ''],
    [1, '1.../1279', ''], [2, '1.../1279', '1...'], [0, '1--++', ''], [0, '1.1.1.1', ''],
    [0, '1.1.1.1/', ''], [1, '1.1.1.1/1', ''], [2, '1.1.1.1/1', '1.1.1.1'],
    [0, '1.1.1./e', '1.1.1.'], [2, '1.1.1./0', '1.1.1.'], [1, '1.../1279', '...'],
    [1, '1.../1279', 'e...'], [2, '1.../1279', '4...'],
  ]; // prettier-ignore
  for (const [i, [err, address, dns]] of cases.entries()) {
    const { error } = await call((cb) =>
      vpn.setParameters({ address, exclusionList: [], inclusionList: [], dnsServers: [dns] }, cb),
    );
    expect({ test: i, error }).toEqual({ test: i, error: errors[err] });
  }
});

test('sendPacketFailures', async () => {
  expect((await call((cb) => vpn.sendPacket(new ArrayBuffer(1), cb))).error).toBe(
    'Unauthorized access.',
  );
});

test('notifyConnectionStateChangedFailures', async () => {
  expect((await call((cb) => vpn.notifyConnectionStateChanged('connected', cb))).error).toBe(
    'Unauthorized access.',
  );
  expect((await call((cb) => vpn.notifyConnectionStateChanged('failure', cb))).error).toBe(
    'Unauthorized access.',
  );
});

test('createDestroyRace', async () => {
  vpn.createConfig('test-config', () => {});
  const { error } = await call((cb) => vpn.destroyConfig('test-config', cb));
  expect([undefined, 'Pending create.']).toContain(error);
  // Here the create is still being written: Chrome's answer.
  expect(error).toBe('Pending create.');
});

test('destroyCreateRace', async () => {
  expect((await call((cb) => vpn.createConfig('test-config1', cb))).error).toBeUndefined();
  vpn.destroyConfig('test-config1', () => {});
  const { error, result } = await call<string>((cb) => vpn.createConfig('test-config1', cb));
  expect(error).toBeUndefined(); // destroy removes it at once, as Chrome does
  expect(result).toBe('test-config1');
});

test('Promise form: the same errors, as rejections with codes', async () => {
  await expect(vpn.createConfig('')).rejects.toMatchObject({
    message: 'Empty name not supported.',
    code: 'ERR_EMPTY_NAME',
  });
  await expect(vpn.destroyConfig('nope')).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED' });
  await expect(
    vpn.setParameters({ address: '1+++', exclusionList: [], inclusionList: [], dnsServers: [] }),
  ).rejects.toMatchObject({ code: 'ERR_ADDRESS_SANITY' });
  await expect(
    vpn.setParameters({
      address: '10.0.0.1/24',
      exclusionList: ['1.2.3/4'],
      inclusionList: [],
      dnsServers: [],
    }),
  ).rejects.toThrow('Exclusion list CIDR sanity check failed.');
  await expect(
    vpn.setParameters({
      address: '10.0.0.1/24',
      exclusionList: [],
      inclusionList: ['x'],
      dnsServers: [],
    }),
  ).rejects.toThrow('Inclusion list CIDR sanity check failed.');
  expect(await vpn.createConfig('office')).toBe('office');
});

test('wrong types are TypeErrors, not crashes', async () => {
  const bad = vpn as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  await expect(bad.createConfig(42)).rejects.toMatchObject({ name: 'TypeError' });
  await expect(bad.setParameters(null)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  await expect(bad.setParameters({ address: 1 })).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG_TYPE',
  });
  await expect(
    bad.setParameters({
      address: '1.1.1.1/1',
      exclusionList: 'x',
      inclusionList: [],
      dnsServers: [],
    }),
  ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
  await expect(bad.notifyConnectionStateChanged('bogus')).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG_VALUE',
  });
  expect(() => bad.createConfig('x', 'not a function')).toThrow(TypeError);
});

test('UI events and onConfigCreated come from the platform', async () => {
  const seen: unknown[][] = [];
  vpn.onUIEvent.addListener((...a) => seen.push(['ui', ...a]));
  vpn.onConfigCreated.addListener((...a) => seen.push(['created', ...a]));
  vpn.onConfigRemoved.addListener((...a) => seen.push(['removed', ...a]));
  await vpn.createConfig('testconfig');
  platform.showAddDialog('com.example.basic');
  platform.showConfigureDialog('com.example.basic', 'testconfig');
  await platform.createConfigFor('com.example.basic', 'fromcli', { server: 'x' });
  await vpn.destroyConfig('fromcli'); // destroyConfig does not fire onConfigRemoved
  await platform.removeConfig('com.example.basic', 'testconfig');
  expect(seen).toEqual([
    ['ui', 'showAddDialog', ''],
    ['ui', 'showConfigureDialog', 'testconfig'],
    ['created', 'fromcli', 'fromcli', { server: 'x' }],
    ['removed', 'testconfig'],
  ]);
  expect(platform.configs()).toEqual([]);
});
