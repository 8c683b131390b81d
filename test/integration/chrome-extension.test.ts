// Extension code as Chrome runs it, against the real kernel in the private
// namespace npm test runs us in: a background routine in Chrome's style
// through createChrome (failures, connect, packets both ways, disconnect),
// and examples/extension run unchanged with `vpn-provider run-extension`
// against examples/server.js in two namespaces of the test's own, driven
// with `vpn-provider list / connect / disconnect`, ping through the tunnel.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform } from '../../lib';
import { closeChrome, createChrome, type Chrome } from '../../lib/chrome';
import { native } from '../../lib/native';
import { CHROME_PARAMETERS } from '../helpers/chrome';
import { ip, plainEnv } from '../helpers/ip';
import { joinByVeth } from '../helpers/netns-pair';
import { describeNetns } from '../helpers/netns';
import { ipv4Udp, pattern } from '../helpers/packets';
import { receive, send, udpSocket } from '../helpers/udp';

jest.setTimeout(60000);

const root = path.join(__dirname, '../..');

async function until(what: string, check: () => boolean, ms = 20000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describeNetns('a Chrome-style background routine through createChrome', () => {
  let dir: string;
  let platform: Platform;
  let chrome: Chrome;

  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-chrome-int-'));
    platform = createPlatform({ stateDir: dir, log: () => {}, dns: false, controlSocket: false });
    chrome = createChrome({ platform, providerId: 'com.example.routine', log: () => {} });
  });
  afterEach(async () => {
    closeChrome(chrome);
    await platform.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('failures, then connect, setParameters, packets both ways, disconnect', async () => {
    const steps: string[] = [];
    let packet: ArrayBuffer | null = null;
    let down: () => void = () => {};
    const disconnected = new Promise<void>((r) => (down = r));
    const up = new Promise<void>((resolve, reject) => {
      // The routine, as a background page writes it: callbacks and lastError only.
      chrome.vpnProvider.onPacketReceived.addListener((data) => {
        const p = new Uint8Array(data);
        if (p[9] === 17 && ((p[22] << 8) | p[23]) === 5000) packet = data;
      });
      chrome.vpnProvider.onPlatformMessage.addListener((id, message) => {
        steps.push(`${id}:${message}`);
        if (message === 'disconnected') {
          chrome.vpnProvider.sendPacket(new ArrayBuffer(20), () => {
            steps.push(`after:${chrome.runtime.lastError?.message}`);
            down();
          });
        }
        if (message !== 'connected') return;
        chrome.vpnProvider.setParameters({ ...CHROME_PARAMETERS, address: '1.2.3' }, () => {
          if (chrome.runtime.lastError?.message !== 'Address CIDR sanity check failed.')
            return reject(
              new Error(`expected the sanity check, got ${chrome.runtime.lastError?.message}`),
            );
          chrome.vpnProvider.setParameters(CHROME_PARAMETERS, () => {
            if (chrome.runtime.lastError)
              return reject(new Error(chrome.runtime.lastError.message));
            chrome.vpnProvider.sendPacket(new ArrayBuffer(0), () => {
              steps.push(`empty:${chrome.runtime.lastError?.message}`);
              chrome.vpnProvider.notifyConnectionStateChanged('connected', () => {
                if (chrome.runtime.lastError)
                  return reject(new Error(chrome.runtime.lastError.message));
                resolve();
              });
            });
          });
        });
      });
    });
    chrome.vpnProvider.createConfig('testconfig', () => {
      if (chrome.runtime.lastError) throw new Error(chrome.runtime.lastError.message);
      void platform.connect('com.example.routine', 'testconfig');
    });
    await up;
    expect(platform.session).toMatchObject({ configId: 'testconfig', state: 'connected' });

    // In: the system sends into the tunnel; the routine gets an ArrayBuffer.
    const sock = await udpSocket('udp4', '10.10.10.10');
    try {
      await send(sock, pattern(100, 1), 5000, '10.10.10.20');
      await until('the packet', () => packet !== null);
      expect(packet).toBeInstanceOf(ArrayBuffer);
      expect(Buffer.compare(new Uint8Array(packet!, 28), pattern(100, 1))).toBe(0);
      // Out: the routine's sendPacket reaches the socket through the kernel.
      const back = receive(sock, 1);
      const out = ipv4Udp({
        src: '10.10.10.20',
        dst: '10.10.10.10',
        dstPort: sock.address().port,
        payload: pattern(50, 2),
      });
      const sent = await new Promise<string | undefined>((r) =>
        chrome.vpnProvider.sendPacket(out.slice().buffer as ArrayBuffer, () =>
          r(chrome.runtime.lastError?.message),
        ),
      );
      expect(sent).toBeUndefined();
      expect(Buffer.compare((await back)[0], pattern(50, 2))).toBe(0);
    } finally {
      sock.close();
    }
    await platform.disconnect();
    await disconnected;
    expect(steps).toEqual([
      'testconfig:connected',
      "empty:Can't send an empty packet.",
      'testconfig:disconnected',
      'after:Unauthorized access.',
    ]);
  });
});

describeNetns(
  'examples/extension with vpn-provider run-extension, against examples/server.js',
  () => {
    const tag = String(process.pid);
    const NS = { client: `chx-c-${tag}`, server: `chx-s-${tag}` };
    const children: ChildProcess[] = [];
    let dir = '';
    const cli = path.join(root, 'bin', 'vpn-provider.js');

    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-chrome-ext-'));
      ip('netns', 'add', NS.client);
      ip('netns', 'add', NS.server);
      joinByVeth(NS.client, NS.server, '192.0.2.1/24', '192.0.2.2/24');
    });
    afterAll(() => {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      for (const ns of Object.values(NS)) ip('netns', 'del', ns);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    function start(ns: string, args: string[]) {
      const c = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(c);
      const o = { out: '', err: '', child: c };
      c.stdout!.on('data', (d) => (o.out += d));
      c.stderr!.on('data', (d) => (o.err += d));
      return o;
    }
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [cli, ...args, '--state-dir', path.join(dir, 'state')], {
        encoding: 'utf8',
        timeout: 20000,
      });
    const stop = async (c: ChildProcess) => {
      c.kill('SIGTERM');
      await new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)));
      return c.exitCode;
    };

    test('runs unchanged: list, connect, ping both ways, disconnect; storage and install survive a restart', async () => {
      const server = start(NS.server, [path.join(root, 'examples/server.js')]);
      await until('the server', () => server.out.includes('"ready"'));
      const state = path.join(dir, 'state');
      const ext = path.join(root, 'examples/extension');
      const runner = () =>
        start(NS.client, [cli, 'run-extension', ext, '--state-dir', state, '--no-dns']);

      let client = runner();
      await until('the extension', () => client.out.includes('"created":"demo"'));
      expect(client.out).toMatch(/^Demo VPN 1\.0 runs as provider [a-p]{32};/m);
      const list = run('list', '--json');
      expect(list.status).toBe(0);
      expect(JSON.parse(list.stdout)).toEqual([
        {
          providerId: expect.stringMatching(/^[a-p]{32}$/),
          id: 'demo',
          name: 'demo',
          active: false,
        },
      ]);
      const connect = run('connect', 'demo');
      expect(connect.stderr).toBe('');
      expect(connect.status).toBe(0);
      await until('the tunnel', () => client.out.includes('"up":"demo"'));
      const ping = spawnSync(
        'ip',
        ['netns', 'exec', NS.client, 'ping', '-c', '3', '-W', '2', '198.18.0.1'],
        {
          encoding: 'utf8',
          env: plainEnv(),
        },
      );
      expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
      expect(run('disconnect').status).toBe(0);
      await until('the disconnect', () => client.out.includes('"down":"disconnected"'));
      expect(await stop(client.child)).toBe(0);
      expect(client.err).toBe('');
      expect(ip('-n', NS.client, 'rule', 'list')).not.toMatch(/lookup 30100/);

      // The settings it stored, kept 0600; the next run is a startup, not an install.
      const storage = fs
        .readdirSync(path.join(state, 'chrome'))
        .map((d) => path.join(state, 'chrome', d, 'storage.json'));
      expect(storage).toHaveLength(1);
      expect(JSON.parse(fs.readFileSync(storage[0], 'utf8'))).toEqual({ connects: 1 });
      expect(fs.statSync(storage[0]).mode & 0o777).toBe(0o600);
      client = runner();
      await until('the second run', () => client.out.includes('"startup":true'));
      expect(client.out).not.toMatch(/installed/);
      expect(run('connect', 'demo').status).toBe(0);
      await until('the tunnel again', () => client.out.includes('"up":"demo"'));
      expect(await stop(client.child)).toBe(0);
      expect(JSON.parse(fs.readFileSync(storage[0], 'utf8'))).toEqual({ connects: 2 });
      // SIGTERM with the session up: it ends, nothing of it stays.
      expect(ip('-n', NS.client, 'rule', 'list')).not.toMatch(/lookup 30100/);
      expect(ip('-n', NS.client, 'link', 'show')).not.toMatch(/vpn\d+/);
      await stop(server.child);
    });
  },
);
