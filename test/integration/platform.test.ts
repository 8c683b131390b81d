// Sessions through the public surface, against the real kernel, inside the
// private namespace npm test runs us in.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createPlatform,
  type Platform,
  type PlatformMessage,
  type VpnProvider,
  type PacketBatch,
} from '../../lib';
import { native } from '../../lib/native';
import { CHROME_PARAMETERS } from '../helpers/chrome';
import { ip } from '../helpers/ip';
import { describeNetns } from '../helpers/netns';
import { ipv4Udp, ipv6Udp, pattern } from '../helpers/packets';
import { udpSocket, send, receive } from '../helpers/udp';

jest.setTimeout(30000);

/** The IPv4 addresses on ifname. */
function addresses(ifname: string): { local: string; prefixlen: number; broadcast?: string }[] {
  const out = JSON.parse(ip(...['-j', '-4', 'addr', 'show', 'dev', ifname]));
  return out[0].addr_info.map((a: { local: string; prefixlen: number; broadcast?: string }) => ({
    local: a.local,
    prefixlen: a.prefixlen,
    ...(a.broadcast ? { broadcast: a.broadcast } : {}),
  }));
}

function linkGone(ifname: string): boolean {
  try {
    native.linkIndex(ifname);
    return false;
  } catch {
    return true;
  }
}

describeNetns('the platform and a provider, in a private namespace', () => {
  let dir: string;
  let platform: Platform;
  let vpn: VpnProvider;
  let messages: [string, PlatformMessage, string][];

  const nextMessage = (want: PlatformMessage) =>
    new Promise<[string, PlatformMessage, string]>((resolve) => {
      const l = (id: string, m: PlatformMessage, e: string) => {
        if (m === want) {
          vpn.onPlatformMessage.removeListener(l);
          resolve([id, m, e]);
        }
      };
      vpn.onPlatformMessage.addListener(l);
    });

  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-platform-'));
    platform = createPlatform({
      stateDir: dir,
      connectTimeoutMs: 10000,
      log: () => {},
      dns: false,
    });
    vpn = platform.provider('com.example.vpn');
    messages = [];
    vpn.onPlatformMessage.addListener((...m) => messages.push(m));
  });
  afterEach(async () => {
    await platform.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("Chrome's VpnSuccess: connect, setParameters, notify, packets both ways, disconnect", async () => {
    await vpn.createConfig('testconfig');
    const applied = new Promise<void>((resolve, reject) => {
      vpn.onPlatformMessage.addListener((id, message) => {
        if (message !== 'connected') return;
        expect(id).toBe('testconfig');
        vpn
          .setParameters(CHROME_PARAMETERS)
          .then(() => vpn.notifyConnectionStateChanged('connected'))
          .then(resolve, reject);
      });
    });
    await platform.connect('com.example.vpn', 'testconfig');
    await applied;
    const s = platform.session!;
    expect(s).toMatchObject({
      providerId: 'com.example.vpn',
      configId: 'testconfig',
      state: 'connected',
    });
    const info = await native.linkInfo(native.linkIndex(s.interfaceName));
    expect(info).toMatchObject({ mtu: 1600, up: true });
    expect(addresses(s.interfaceName)).toEqual([
      { local: '10.10.10.10', prefixlen: 24, broadcast: '10.10.10.255' },
    ]);

    await expect(vpn.sendPacket(new ArrayBuffer(0))).rejects.toThrow("Can't send an empty packet.");
    await vpn.sendPacket(new Uint8Array([102, 101, 101, 98, 100, 97, 101, 100]).buffer);

    // In: the system sends into the tunnel; one ArrayBuffer per packet.
    const sock = await udpSocket('udp4', '10.10.10.10');
    try {
      const got = new Promise<ArrayBuffer>((resolve) =>
        vpn.onPacketReceived.addListener((data) => {
          const p = new Uint8Array(data);
          if (p[9] === 17 && ((p[22] << 8) | p[23]) === 5000) resolve(data);
        }),
      );
      await send(sock, pattern(100, 1), 5000, '10.10.10.20');
      const data = await got;
      expect(data).toBeInstanceOf(ArrayBuffer);
      expect(Buffer.compare(new Uint8Array(data, 28), pattern(100, 1))).toBe(0);

      // Out: a packet from the far side, delivered by the kernel to the socket.
      const back = receive(sock, 1);
      await vpn.sendPacket(
        ipv4Udp({
          src: '10.10.10.20',
          dst: '10.10.10.10',
          dstPort: sock.address().port,
          payload: pattern(50, 2),
        }),
      );
      expect(Buffer.compare((await back)[0], pattern(50, 2))).toBe(0);
    } finally {
      sock.close();
    }

    await platform.disconnect();
    expect(messages.map((m) => m[1])).toEqual(['connected', 'disconnected']);
    expect(messages[1]).toEqual(['testconfig', 'disconnected', '']);
    expect(platform.session).toBeNull();
    expect(linkGone(s.interfaceName)).toBe(true);
    await expect(vpn.setParameters(CHROME_PARAMETERS)).rejects.toThrow('Unauthorized access.');
    await expect(vpn.sendPacket(new ArrayBuffer(1))).rejects.toThrow('Unauthorized access.');
    await expect(vpn.notifyConnectionStateChanged('connected')).rejects.toThrow(
      'Unauthorized access.',
    );
  });

  test('the fast path works through the surface: batches in, sendPackets out', async () => {
    await vpn.createConfig('fast');
    await platform.connect('com.example.vpn', 'fast');
    await vpn.setParameters({
      address: '10.20.0.1/24',
      exclusionList: [],
      inclusionList: [],
      dnsServers: [],
    });
    const sock = await udpSocket('udp4', '10.20.0.1');
    try {
      let n = 0;
      const got = new Promise<void>((resolve) =>
        vpn.onPacketsReceived.addListener((batch: PacketBatch) => {
          for (let i = 0; i < batch.count; i++) if (batch.packet(i)[9] === 17) n++;
          if (n >= 20) resolve();
        }),
      );
      for (let i = 0; i < 20; i++) await send(sock, pattern(30, i), 5001, '10.20.0.9');
      await got;
      const port = sock.address().port;
      const back = receive(sock, 10);
      await vpn.sendPackets(
        Array.from({ length: 10 }, (_, i) =>
          ipv4Udp({ src: '10.20.0.9', dst: '10.20.0.1', dstPort: port, payload: pattern(20, i) }),
        ),
      );
      expect((await back).map((m) => m.length)).toEqual(Array(10).fill(20));
    } finally {
      sock.close();
    }
  });

  test('connect timeout: error with a reason, then disconnected', async () => {
    await platform.close();
    platform = createPlatform({ stateDir: dir, connectTimeoutMs: 200, log: () => {}, dns: false });
    vpn = platform.provider('com.example.vpn');
    messages = [];
    vpn.onPlatformMessage.addListener((...m) => messages.push(m));
    await vpn.createConfig('slow');
    await platform.connect('com.example.vpn', 'slow');
    const ifname = platform.session!.interfaceName;
    await nextMessage('disconnected');
    expect(messages.map((m) => m[1])).toEqual(['connected', 'error', 'disconnected']);
    expect(messages[1][2]).toMatch(/Connect timeout/);
    expect(platform.session).toBeNull();
    expect(linkGone(ifname)).toBe(true);
  });

  test('setParameters in time stops the connect timer', async () => {
    await platform.close();
    platform = createPlatform({ stateDir: dir, connectTimeoutMs: 300, log: () => {}, dns: false });
    vpn = platform.provider('com.example.vpn');
    await vpn.createConfig('quick');
    await platform.connect('com.example.vpn', 'quick');
    await vpn.setParameters({
      address: '10.30.0.1/24',
      exclusionList: [],
      inclusionList: [],
      dnsServers: [],
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(platform.session?.state).toBe('configured');
  });

  test('destroyConfig of the active config: disconnected first, device gone, no onConfigRemoved', async () => {
    const removed: string[] = [];
    vpn.onConfigRemoved.addListener((id) => removed.push(id));
    await vpn.createConfig('active');
    await platform.connect('com.example.vpn', 'active');
    const ifname = platform.session!.interfaceName;
    await vpn.destroyConfig('active');
    expect(messages.map((m) => m[1])).toEqual(['connected', 'disconnected']);
    expect(linkGone(ifname)).toBe(true);
    expect(removed).toEqual([]);
    expect(platform.configs()).toEqual([]);
  });

  test('notifyConnectionStateChanged("failure") ends the session', async () => {
    await vpn.createConfig('f');
    await platform.connect('com.example.vpn', 'f');
    const ifname = platform.session!.interfaceName;
    await vpn.notifyConnectionStateChanged('failure');
    expect(messages.map((m) => m[1])).toEqual(['connected', 'disconnected']);
    expect(linkGone(ifname)).toBe(true);
  });

  test.each([
    ['with a packet listener (its read fails)', true],
    ['without any packet listener (the link monitor sees it)', false],
  ])(
    'an interface deleted under the session, %s: error, then disconnected',
    async (_how, listen) => {
      await vpn.createConfig('d');
      await platform.connect('com.example.vpn', 'd');
      await vpn.setParameters({
        address: '10.40.0.1/24',
        exclusionList: [],
        inclusionList: [],
        dnsServers: [],
      });
      if (listen) vpn.onPacketsReceived.addListener(() => {}); // the device reads
      const done = nextMessage('disconnected');
      await native.deleteLink({ ifindex: native.linkIndex(platform.session!.interfaceName) });
      await done;
      expect(messages.map((m) => m[1])).toEqual(['connected', 'error', 'disconnected']);
      expect(messages[1][2]).toMatch(/tunnel device failed/);
      expect(platform.session).toBeNull();
    },
  );

  test('connecting another configuration disconnects the current one first', async () => {
    const other = platform.provider('com.example.other');
    const otherMessages: string[] = [];
    other.onPlatformMessage.addListener((id, m) => otherMessages.push(`${id}:${m}`));
    await vpn.createConfig('one');
    await other.createConfig('two');
    await platform.connect('com.example.vpn', 'one');
    const first = native.linkIndex(platform.session!.interfaceName);
    await platform.connect('com.example.other', 'two');
    expect(messages.map((m) => `${m[0]}:${m[1]}`)).toEqual(['one:connected', 'one:disconnected']);
    expect(otherMessages).toEqual(['two:connected']);
    await expect(native.linkInfo(first)).rejects.toMatchObject({ code: 'ENODEV' });
    await expect(
      vpn.setParameters({
        address: '10.50.0.1/24',
        exclusionList: [],
        inclusionList: [],
        dnsServers: [],
      }),
    ).rejects.toThrow('Unauthorized access.');
    await other.setParameters({
      address: '10.50.0.1/24',
      exclusionList: [],
      inclusionList: [],
      dnsServers: [],
    });
  });

  test('dual stack (ipv6Address, our extension): both addresses, no link-local, IPv6 both ways', async () => {
    await vpn.createConfig('dual');
    await platform.connect('com.example.vpn', 'dual');
    await vpn.setParameters({
      address: '10.90.0.2/24',
      ipv6Address: '2001:db8:90::2/64',
      exclusionList: [],
      inclusionList: ['0.0.0.0/0', '::/0'],
      dnsServers: [],
    });
    const ifname = platform.session!.interfaceName;
    const v6 = JSON.parse(ip(...['-j', '-6', 'addr', 'show', 'dev', ifname]));
    expect(v6[0].addr_info.map((a: { local: string }) => a.local)).toEqual(['2001:db8:90::2']);
    expect(ip(...['-6', 'route', 'show', 'table', '30100'])).not.toMatch(/blackhole/);
    const sock = await udpSocket('udp6', '2001:db8:90::2');
    try {
      const got = new Promise<Uint8Array>((resolve) =>
        vpn.onPacketsReceived.addListener((batch) => {
          for (let i = 0; i < batch.count; i++) {
            const p = batch.packet(i);
            if (p[0] >> 4 === 6 && p[6] === 17) resolve(p.slice());
          }
        }),
      );
      await send(sock, pattern(40, 3), 5006, '2001:db8:90::20');
      expect(Buffer.compare((await got).subarray(48), pattern(40, 3))).toBe(0);
      const back = receive(sock, 1);
      await vpn.sendPacket(
        ipv6Udp({
          src: '2001:db8:90::20',
          dst: '2001:db8:90::2',
          dstPort: sock.address().port,
          payload: pattern(30, 4),
        }),
      );
      expect(Buffer.compare((await back)[0], pattern(30, 4))).toBe(0);
    } finally {
      sock.close();
    }
    await expect(
      vpn.setParameters({
        address: '10.90.0.2/24',
        ipv6Address: 'nope/64',
        exclusionList: [],
        inclusionList: [],
        dnsServers: [],
      }),
    ).rejects.toThrow('IPv6 address CIDR sanity check failed.');
  });
});
