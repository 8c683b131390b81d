// Link events: the default route moved between veth interfaces, lost, got
// back, and the carrier lost; reconnect "true" forwards them, without it the
// session ends. suspend / resume are injected (no logind in the namespace).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform, type PlatformMessage, type VpnProvider } from '../../lib';
import { ip } from '../helpers/ip';
import { describeNetns } from '../helpers/netns';

jest.setTimeout(30000);

describeNetns('network changes', () => {
  let dir: string;
  let platform: Platform;
  let vpn: VpnProvider;
  let messages: PlatformMessage[];

  const waitFor = (want: PlatformMessage) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${want}; got ${messages.join(',')}`)), 5000);
      const l = (_id: string, m: PlatformMessage) => {
        if (m === want) {
          clearTimeout(t);
          vpn.onPlatformMessage.removeListener(l);
          resolve();
        }
      };
      vpn.onPlatformMessage.addListener(l);
    });

  const connect = async (reconnect: 'true' | 'false') => {
    await platform.connect('p', 'c');
    await vpn.setParameters({
      address: '10.70.0.2/24',
      exclusionList: [],
      inclusionList: ['198.18.0.0/16'],
      dnsServers: [],
      reconnect,
    });
  };

  beforeAll(() => {
    ip('link', 'set', 'lo', 'up');
    for (const [a, b, addr] of [
      ['eth0', 'eth0p', '192.0.2.1/24'],
      ['eth1', 'eth1p', '198.51.100.1/24'],
    ]) {
      ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      ip('addr', 'add', addr, 'dev', a);
      ip('link', 'set', a, 'up');
      ip('link', 'set', b, 'up');
    }
  });
  afterAll(() => {
    ip('link', 'del', 'eth0');
    ip('link', 'del', 'eth1');
  });
  beforeEach(async () => {
    ip('route', 'replace', 'default', 'via', '192.0.2.254', 'dev', 'eth0');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-events-'));
    platform = createPlatform({ stateDir: dir, log: () => {}, dns: false });
    vpn = platform.provider('p');
    await vpn.createConfig('c');
    messages = [];
    vpn.onPlatformMessage.addListener((_id, m) => messages.push(m));
  });
  afterEach(async () => {
    await platform.close();
    ip('link', 'set', 'eth0p', 'up');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('reconnect "true": linkChanged, linkDown, linkUp are forwarded and the session stays', async () => {
    await connect('true');
    let next = waitFor('linkChanged');
    ip('route', 'replace', 'default', 'via', '198.51.100.254', 'dev', 'eth1');
    await next;
    next = waitFor('linkDown');
    ip('route', 'del', 'default');
    await next;
    next = waitFor('linkUp');
    ip('route', 'add', 'default', 'via', '192.0.2.254', 'dev', 'eth0');
    await next;
    expect(messages).toEqual(['connected', 'linkChanged', 'linkDown', 'linkUp']);
    expect(platform.session?.state).toBe('configured');
  });

  test('losing the carrier of the default route is linkDown', async () => {
    await connect('true');
    const next = waitFor('linkDown');
    ip('link', 'set', 'eth0p', 'down'); // the peer goes: eth0 loses its carrier
    await next;
    expect(platform.session).not.toBeNull();
  });

  test('without reconnect, linkChanged ends the session', async () => {
    await connect('false');
    const next = waitFor('disconnected');
    ip('route', 'replace', 'default', 'via', '198.51.100.254', 'dev', 'eth1');
    await next;
    expect(messages).toEqual(['connected', 'disconnected']);
    expect(platform.session).toBeNull();
  });

  test('without reconnect, linkUp is still told and the session stays', async () => {
    ip('route', 'del', 'default');
    await connect('false');
    const next = waitFor('linkUp');
    ip('route', 'add', 'default', 'via', '192.0.2.254', 'dev', 'eth0');
    await next;
    expect(platform.session).not.toBeNull();
  });

  test('suspend and resume: forwarded with reconnect, suspend ends the session without', async () => {
    await connect('true');
    platform.systemEvent('suspend');
    platform.systemEvent('resume');
    expect(messages).toEqual(['connected', 'suspend', 'resume']);
    await vpn.setParameters({
      address: '10.70.0.2/24',
      exclusionList: [],
      inclusionList: [],
      dnsServers: [],
      reconnect: 'false',
    });
    const next = waitFor('disconnected');
    platform.systemEvent('suspend');
    await next;
    expect(platform.session).toBeNull();
  });
});
