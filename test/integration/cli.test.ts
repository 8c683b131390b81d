// `vpn-provider connect` and `status` against a platform with a live session.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform, type PlatformStatus } from '../../lib';
import { runCli } from '../helpers/cli';
import { native } from '../../lib/native';
import { describeNetns } from '../helpers/netns';
import { udpSocket, send } from '../helpers/udp';

jest.setTimeout(20000);

describeNetns('the CLI with a live session', () => {
  let dir: string;
  let platform: Platform;
  const cli = (...argv: string[]) => runCli(dir, ...argv);

  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-cli-'));
    platform = createPlatform({ stateDir: dir, log: () => {}, dns: false });
  });
  afterEach(async () => {
    await platform.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('connect from the CLI; status shows the session, counters and rates', async () => {
    const vpn = platform.provider('com.example.vpn');
    await vpn.createConfig('office');
    vpn.onPlatformMessage.addListener((_id, m) => {
      if (m === 'connected') {
        void vpn.setParameters({
          address: '10.80.0.2/24',
          exclusionList: ['198.18.99.0/24'],
          inclusionList: ['198.18.0.0/16'],
          dnsServers: [],
        });
      }
    });
    vpn.onPacketsReceived.addListener(() => {});
    const c = await cli('connect', 'office');
    expect(c.code).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    const sock = await udpSocket('udp4', '10.80.0.2');
    try {
      for (let i = 0; i < 30; i++) await send(sock, new Uint8Array(100), 9, '198.18.1.1');
      await new Promise((r) => setTimeout(r, 2200)); // two samples for the rates
    } finally {
      sock.close();
    }
    const s = JSON.parse((await cli('status', '--json')).out) as PlatformStatus;
    expect(s).toMatchObject({
      state: 'configured',
      providerId: 'com.example.vpn',
      configId: 'office',
      interfaceName: platform.session!.interfaceName,
      address: '10.80.0.2/24',
      inclusions: ['198.18.0.0/16'],
      exclusions: ['198.18.99.0/24'],
    });
    expect(s.counters!.inPackets).toBeGreaterThanOrEqual(30);
    expect(s.counters!.inBytes).toBeGreaterThanOrEqual(30 * 128);
    expect(s.rates).not.toBeNull();
    const text = (await cli('status')).out;
    expect(text).toMatch(
      /^state: configured {2}provider: com.example.vpn {2}config: office {2}interface: /,
    );
    expect(text).toMatch(/routes around: 198.18.99.0\/24/);
    expect((await cli('list')).out).toBe('* office  (com.example.vpn)\n');
    expect((await cli('disconnect')).out).toBe('disconnected\n');
    expect((await cli('status')).out).toBe('state: disconnected\n');
  });
});
