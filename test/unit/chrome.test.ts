// require('vpn-provider/chrome'): the chrome object in Chrome's own style
// (callbacks, chrome.runtime.lastError), storage across restarts, sockets.udp
// on loopback, absent APIs, and runExtension's errors. Nothing here connects
// (that needs a TUN device: test/integration/chrome-extension.test.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform } from '../../lib';
import { CHROME_PARAMETERS } from '../helpers/chrome';
import { runCli } from '../helpers/cli';
import { closeChrome, createChrome, runExtension, type Chrome } from '../../lib/chrome';

let dir: string;
let platform: Platform;
let chrome: Chrome;
let logged: string[];

function make(): Chrome {
  const c = createChrome({
    platform,
    providerId: 'com.example.chrome',
    log: (l) => logged.push(l),
    autoStart: false,
  });
  return c;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-chrome-api-'));
  platform = createPlatform({ stateDir: dir, log: () => {}, controlSocket: false });
  logged = [];
  chrome = make();
});
afterEach(async () => {
  closeChrome(chrome);
  await platform.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Calls fn(cb); resolves with lastError's message as the callback saw it, and its arguments. */
function call(fn: (cb: (...a: unknown[]) => void) => void) {
  return new Promise<{ error?: string; args: unknown[] }>((resolve) =>
    fn((...args) => resolve({ error: chrome.runtime.lastError?.message, args })),
  );
}
const tick = () => new Promise((r) => setImmediate(r));

describe('chrome.runtime.lastError', () => {
  test("set only during the failed call's callback, cleared after, also when it throws", async () => {
    expect(chrome.runtime.lastError).toBeUndefined();
    const r = await call((cb) => chrome.vpnProvider.destroyConfig('nope', cb));
    expect(r.error).toBe('Unauthorized access.');
    expect(r.args).toEqual([]);
    expect(chrome.runtime.lastError).toBeUndefined();
    // A success right after: no lastError in its callback.
    expect((await call((cb) => chrome.vpnProvider.createConfig('one', cb))).error).toBeUndefined();

    let seen: string | undefined;
    chrome.vpnProvider.createConfig('one', () => {
      seen = chrome.runtime.lastError?.message;
      throw new Error('boom in a callback');
    });
    await tick();
    await tick();
    expect(seen).toBe('Name not unique.');
    expect(chrome.runtime.lastError).toBeUndefined();
    expect(
      logged.some((l) =>
        l.startsWith('Error in response to vpnProvider.createConfig: Error: boom'),
      ),
    ).toBe(true);
  });

  test('a failure whose callback never reads lastError is reported as unchecked', async () => {
    await new Promise<void>((resolve) => chrome.vpnProvider.destroyConfig('nope', () => resolve()));
    expect(logged).toContain('Unchecked runtime.lastError: Unauthorized access.');
  });

  test('Promise form without a callback (Manifest V3): rejects with the message', async () => {
    await expect(chrome.vpnProvider.createConfig('')).rejects.toThrow('Empty name not supported.');
    await expect(chrome.vpnProvider.createConfig('x')).resolves.toBe('x');
  });
});

describe("Chrome's vpnProvider test routines through createChrome", () => {
  test('createConfig, destroyConfig and the calls that need a session fail as in Chrome', async () => {
    const v = chrome.vpnProvider;
    expect((await call((cb) => v.createConfig('some config name', cb))).args).toEqual([
      'some config name',
    ]);
    expect((await call((cb) => v.createConfig('some config name', cb))).error).toBe(
      'Name not unique.',
    );
    expect((await call((cb) => v.createConfig('', cb))).error).toBe('Empty name not supported.');
    expect((await call((cb) => v.destroyConfig('some config name', cb))).error).toBeUndefined();
    expect((await call((cb) => v.destroyConfig('some config name', cb))).error).toBe(
      'Unauthorized access.',
    );
    expect(
      (await call((cb) => v.setParameters({ ...CHROME_PARAMETERS, address: '1.2.3' }, cb))).error,
    ).toBe('Address CIDR sanity check failed.');
    expect((await call((cb) => v.setParameters(CHROME_PARAMETERS, cb))).error).toBe(
      'Unauthorized access.',
    );
    expect((await call((cb) => v.sendPacket(new ArrayBuffer(4), cb))).error).toBe(
      'Unauthorized access.',
    );
    expect((await call((cb) => v.notifyConnectionStateChanged('connected', cb))).error).toBe(
      'Unauthorized access.',
    );
    // The events: onConfigRemoved from the platform's side.
    await call((cb) => v.createConfig('gone', cb));
    const removed: string[] = [];
    v.onConfigRemoved.addListener((id) => removed.push(id));
    await platform.removeConfig('com.example.chrome', 'gone');
    expect(removed).toEqual(['gone']);
  });
});

describe('absent APIs', () => {
  test('touching what Chrome has and this does not is an error naming it', () => {
    expect(() => (chrome as unknown as Record<string, unknown>).tabs).toThrow(
      /^chrome\.tabs is not available: vpn-provider runs/,
    );
    expect(() => (chrome.storage as unknown as Record<string, unknown>).sync).toThrow(
      /chrome\.storage\.sync is not available/,
    );
    expect(() => (chrome.sockets as unknown as Record<string, unknown>).tcp).toThrow(
      /chrome\.sockets\.tcp is not available/,
    );
    expect(() => (chrome.runtime as unknown as Record<string, unknown>).sendMessage).toThrow(
      /chrome\.runtime\.sendMessage is not available/,
    );
    expect('tabs' in chrome).toBe(false);
    expect('vpnProvider' in chrome).toBe(true);
  });
});

describe('chrome.storage.local', () => {
  test("Chrome's argument forms, onChanged, and it survives a restart in a 0600 file", async () => {
    const s = chrome.storage.local;
    const changes: unknown[] = [];
    chrome.storage.onChanged.addListener((c, area) => changes.push([c, area]));
    expect(
      (await call((cb) => s.set({ a: 1, b: { c: [1, 2] }, d: 'x' }, cb))).error,
    ).toBeUndefined();
    expect((await call((cb) => s.get('a', cb))).args).toEqual([{ a: 1 }]);
    expect((await call((cb) => s.get(['a', 'd', 'z'], cb))).args).toEqual([{ a: 1, d: 'x' }]);
    expect((await call((cb) => s.get({ a: 0, z: 'def' }, cb))).args).toEqual([{ a: 1, z: 'def' }]);
    expect((await call((cb) => s.get(null, cb))).args).toEqual([
      { a: 1, b: { c: [1, 2] }, d: 'x' },
    ]);
    expect((await call((cb) => s.get(cb))).args).toEqual([{ a: 1, b: { c: [1, 2] }, d: 'x' }]);
    await call((cb) => s.set({ a: 1, d: 'y' }, cb)); // a unchanged: not in the changes
    await call((cb) => s.remove('b', cb));
    expect(changes).toEqual([
      [{ a: { newValue: 1 }, b: { newValue: { c: [1, 2] } }, d: { newValue: 'x' } }, 'local'],
      [{ d: { oldValue: 'x', newValue: 'y' } }, 'local'],
      [{ b: { oldValue: { c: [1, 2] } } }, 'local'],
    ]);
    await expect(s.get('d')).resolves.toEqual({ d: 'y' });

    // Restart: a new platform and chrome on the same state directory.
    closeChrome(chrome);
    await platform.close();
    platform = createPlatform({ stateDir: dir, log: () => {}, controlSocket: false });
    chrome = make();
    await expect(chrome.storage.local.get(null)).resolves.toEqual({ a: 1, d: 'y' });
    const file = path.join(dir, 'chrome', 'com%2Eexample%2Echrome', 'storage.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['storage.json']); // no temporary file left
    await chrome.storage.local.clear();
    await expect(chrome.storage.local.get(null)).resolves.toEqual({});
  });

  test('a corrupt file is an error naming it, and is never overwritten', async () => {
    await chrome.storage.local.set({ a: 1 });
    const file = path.join(dir, 'chrome', 'com%2Eexample%2Echrome', 'storage.json');
    fs.writeFileSync(file, '{"a": 1, trunc');
    closeChrome(chrome);
    chrome = make();
    const r = await call((cb) => chrome.storage.local.set({ b: 2 }, cb));
    expect(r.error).toMatch(`The storage file ${file} is corrupt`);
    expect((await call((cb) => chrome.storage.local.get(null, cb))).error).toMatch('is corrupt');
    expect(fs.readFileSync(file, 'utf8')).toBe('{"a": 1, trunc');
  });
});

describe('chrome.runtime', () => {
  test('id, getManifest, onInstalled once per state directory, onStartup on later runs', async () => {
    expect(chrome.runtime.id).toBe('com.example.chrome');
    expect(chrome.runtime.getManifest()).toMatchObject({ manifest_version: 3 });
    const events: string[] = [];
    const watch = (c: Chrome) => {
      c.runtime.onInstalled.addListener((d) => events.push(`installed:${d.reason}`));
      c.runtime.onStartup.addListener(() => events.push('startup'));
    };
    closeChrome(chrome);
    chrome = createChrome({ platform, providerId: 'com.example.chrome', log: () => {} });
    watch(chrome);
    await tick();
    expect(events).toEqual(['installed:install']);
    for (let run = 0; run < 2; run++) {
      closeChrome(chrome);
      chrome = createChrome({ platform, providerId: 'com.example.chrome', log: () => {} });
      watch(chrome);
      await tick();
    }
    expect(events).toEqual(['installed:install', 'startup', 'startup']);
    closeChrome(chrome);
    chrome = createChrome({
      platform,
      providerId: 'com.example.chrome',
      manifest: { manifest_version: 3, name: 'x', version: '2.0', permissions: ['vpnProvider'] },
      log: () => {},
    });
    watch(chrome);
    await tick();
    expect(events.slice(3)).toEqual(['startup', 'installed:update']);
  });
});

describe('chrome.sockets.udp', () => {
  test('create, bind, send both ways with ArrayBuffers, result codes, close', async () => {
    const u = chrome.sockets.udp;
    const a = (await call((cb) => u.create({ name: 'a' }, cb))).args[0] as { socketId: number };
    const b = (await call((cb) => u.create({}, cb))).args[0] as { socketId: number };
    expect(a.socketId).not.toBe(b.socketId);
    // Send before bind: Chrome's net::ERR_SOCKET_NOT_CONNECTED.
    const early = await call((cb) => u.send(a.socketId, new ArrayBuffer(1), '127.0.0.1', 9, cb));
    expect(early).toEqual({ error: 'net::ERR_SOCKET_NOT_CONNECTED', args: [{ resultCode: -15 }] });
    expect(await call((cb) => u.bind(a.socketId, '127.0.0.1', 0, cb))).toEqual({
      error: undefined,
      args: [0],
    });
    expect((await call((cb) => u.bind(b.socketId, '127.0.0.1', 0, cb))).args).toEqual([0]);
    const infoA = (await call((cb) => u.getInfo(a.socketId, cb))).args[0] as { localPort: number };
    const infoB = (await call((cb) => u.getInfo(b.socketId, cb))).args[0] as { localPort: number };
    expect(infoA).toMatchObject({
      socketId: a.socketId,
      name: 'a',
      paused: false,
      localAddress: '127.0.0.1',
    });
    // Binding the port another socket has: net::ERR_ADDRESS_IN_USE.
    const c = (await call((cb) => u.create(cb))).args[0] as { socketId: number };
    expect(await call((cb) => u.bind(c.socketId, '127.0.0.1', infoA.localPort, cb))).toEqual({
      error: 'net::ERR_ADDRESS_IN_USE',
      args: [-147],
    });
    expect(await call((cb) => u.bind(c.socketId, 'not an address', 0, cb))).toEqual({
      error: 'net::ERR_ADDRESS_INVALID',
      args: [-108],
    });

    const got = new Promise<{
      socketId: number;
      data: ArrayBuffer;
      remoteAddress: string;
      remotePort: number;
    }>((resolve) =>
      u.onReceive.addListener((info) => info.socketId === b.socketId && resolve(info)),
    );
    const sent = await call((cb) =>
      u.send(a.socketId, Uint8Array.of(1, 2, 3).buffer, '127.0.0.1', infoB.localPort, cb),
    );
    expect(sent).toEqual({ error: undefined, args: [{ resultCode: 0, bytesSent: 3 }] });
    const info = await got;
    expect(info.data).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(info.data)]).toEqual([1, 2, 3]);
    expect(info).toMatchObject({ remotePort: infoA.localPort });
    expect(info.remoteAddress).toMatch(/127\.0\.0\.1$/);

    expect((await call((cb) => u.getSockets(cb))).args[0]).toHaveLength(3);
    expect((await call((cb) => u.close(a.socketId, cb))).error).toBeUndefined();
    expect(await call((cb) => u.close(a.socketId, cb))).toEqual({
      error: 'Socket not found',
      args: [],
    });
    expect(() => u.send(b.socketId, 'text' as never, '127.0.0.1', 1)).toThrow(
      /data must be an ArrayBuffer/,
    );
  });
});

describe('runExtension errors', () => {
  const ext = (manifest: object | string, files: Record<string, string> = {}) => {
    const d = fs.mkdtempSync(path.join(dir, 'ext-'));
    fs.writeFileSync(
      path.join(d, 'manifest.json'),
      typeof manifest === 'string' ? manifest : JSON.stringify(manifest),
    );
    for (const [n, t] of Object.entries(files)) fs.writeFileSync(path.join(d, n), t);
    return d;
  };
  const mv2 = { manifest_version: 2, name: 'T', version: '1', background: { scripts: ['bg.js'] } };
  const opts = () => ({ platform, console: { ...console, error: (l: string) => logged.push(l) } });

  test('no manifest, bad JSON, no vpnProvider permission, missing script, script that throws', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'ext-'));
    await expect(runExtension(empty, opts())).rejects.toThrow(
      `${empty} is not an extension: it has no manifest.json.`,
    );
    await expect(runExtension(ext('{ nope'), opts())).rejects.toThrow(
      /manifest\.json is not valid JSON/,
    );
    await expect(
      runExtension(ext({ ...mv2, permissions: ['storage'] }, { 'bg.js': '' }), opts()),
    ).rejects.toThrow(/manifest\.json does not ask for the "vpnProvider" permission/);
    const missing = ext({ ...mv2, permissions: ['vpnProvider'] });
    await expect(runExtension(missing, opts())).rejects.toThrow(
      `background script bg.js does not exist (${path.join(missing, 'bg.js')}).`,
    );
    await expect(
      runExtension(
        ext({ ...mv2, permissions: ['vpnProvider'] }, { 'bg.js': 'throw new Error("at load")' }),
        opts(),
      ),
    ).rejects.toThrow('background script bg.js threw while loading: at load');
    await expect(
      runExtension(
        ext({ ...mv2, permissions: ['vpnProvider'] }, { 'bg.js': 'chrome.tabs.query({})' }),
        opts(),
      ),
    ).rejects.toThrow('background script bg.js threw while loading: chrome.tabs is not available');
    await expect(
      runExtension(
        ext({ ...mv2, permissions: ['vpnProvider'], background: { scripts: ['../outside.js'] } }),
        opts(),
      ),
    ).rejects.toThrow(/outside the extension's folder/);
  });

  test('vpn-provider run-extension: one line and exit status 1 for each', async () => {
    const noPerm = ext({ ...mv2, permissions: [] }, { 'bg.js': '' });
    const r = await runCli(path.join(dir, 'cli-state'), 'run-extension', noPerm);
    expect(r).toEqual({
      code: 1,
      out: '',
      err: `vpn-provider: ${path.join(noPerm, 'manifest.json')} does not ask for the "vpnProvider" permission: add "vpnProvider" to "permissions".\n`,
    });
    const throws = ext({ ...mv2, permissions: ['vpnProvider'] }, { 'bg.js': 'null.x' });
    const t = await runCli(path.join(dir, 'cli-state'), 'run-extension', throws, '--no-dns');
    expect(t.code).toBe(1);
    expect(t.err).toMatch(
      /^vpn-provider: background script bg\.js threw while loading: Cannot read properties of null/,
    );
    expect((await runCli(dir, 'run-extension')).code).toBe(2);
  });

  test('a service worker runs with chrome, in a context whose ArrayBuffers are ours', async () => {
    const d = ext(
      {
        manifest_version: 3,
        name: 'SW',
        version: '1',
        permissions: ['vpnProvider'],
        background: { service_worker: 'sw.js' },
      },
      {
        'sw.js':
          "importScripts('lib.js'); self.made = new Uint8Array(8).buffer; self.check = (x) => x instanceof ArrayBuffer;",
        'lib.js': 'self.fromLib = chrome.runtime.id;',
      },
    );
    const running = await runExtension(d, { ...opts(), providerId: 'com.example.sw' });
    const g = running.context as { made: unknown; check: (x: unknown) => boolean; fromLib: string };
    expect(g.fromLib).toBe('com.example.sw');
    expect(g.made).toBeInstanceOf(ArrayBuffer); // theirs is ours
    expect(g.check(new ArrayBuffer(1))).toBe(true); // ours is theirs
    await running.close();
  });
});
