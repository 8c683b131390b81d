// What Linux VPN authors expect from Android and Apple, on Linux terms:
// protected sockets (VpnService.protect, wg-quick's fwmark), the kill switch
// (blockOutside: Android's lockdown, Apple's includeAllNetworks), per-user
// routing (allowed / disallowed applications) and the TUN device's transmit
// queue. What leaves through the "physical" network is
// counted on its veth: IPv6 is off there and the gateways have permanent
// neighbour entries, so each packet sent that way is one packet counted.
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform, type PlatformMessage, type VpnProvider } from '../../lib';
import { native } from '../../lib/native';
import { ip } from '../helpers/ip';
import { describeNetns } from '../helpers/netns';

jest.setTimeout(30000);

const OUTSIDE = '198.51.100.9'; // in neither list
const EXCLUDED = '203.0.113.9';
const INSIDE = '198.18.7.7';

describeNetns('protected sockets, the kill switch, the transmit queue', () => {
  let dir: string;
  let platform: Platform;
  let vpn: VpnProvider;
  let messages: PlatformMessage[];
  const sockets: dgram.Socket[] = [];

  const txOf = async (link: string) =>
    (await native.linkInfo(native.linkIndex(link))).stats.txPackets;
  /** Sends a datagram; resolves its error code, or null once it was sent. */
  const send = (sock: dgram.Socket, to: string) =>
    new Promise<string | null>((resolve) =>
      sock.send('x', 9, to, (err) => resolve((err as NodeJS.ErrnoException | null)?.code ?? null)),
    );
  /** Packets that went out through `link` while `fn` ran (and 200 ms after). */
  const through = async (link: string, fn: () => Promise<unknown>) => {
    const before = await txOf(link);
    await fn();
    await new Promise((r) => setTimeout(r, 200));
    return (await txOf(link)) - before;
  };
  const udp = async (protect: boolean) => {
    const s = dgram.createSocket('udp4');
    sockets.push(s);
    await new Promise<void>((r) => s.bind(0, () => r()));
    if (protect) vpn.protect(s);
    return s;
  };
  const waitFor = (want: PlatformMessage) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${want}; got ${messages.join(',')}`)), 5000);
      const l = (_id: string, m: PlatformMessage) => {
        if (m !== want) return;
        clearTimeout(t);
        vpn.onPlatformMessage.removeListener(l);
        resolve();
      };
      vpn.onPlatformMessage.addListener(l);
    });

  beforeAll(() => {
    ip('link', 'set', 'lo', 'up');
    for (const [a, b, addr, gateway] of [
      ['phys0', 'phys0p', '192.0.2.1/25', '192.0.2.126'],
      ['phys1', 'phys1p', '192.0.2.129/25', '192.0.2.254'],
    ]) {
      ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
      for (const l of [a, b]) fs.writeFileSync(`/proc/sys/net/ipv6/conf/${l}/disable_ipv6`, '1');
      ip('addr', 'add', addr, 'dev', a);
      ip('link', 'set', a, 'up');
      ip('link', 'set', b, 'up');
      ip('neigh', 'replace', gateway, 'lladdr', '02:00:00:00:00:01', 'dev', a, 'nud', 'permanent');
    }
  });
  afterAll(() => {
    ip('link', 'del', 'phys0');
    ip('link', 'del', 'phys1');
  });
  beforeEach(async () => {
    ip('route', 'replace', 'default', 'via', '192.0.2.126', 'dev', 'phys0');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-killswitch-'));
    platform = createPlatform({ stateDir: dir, log: () => {}, dns: false });
    vpn = platform.provider('p');
    messages = [];
    vpn.onPlatformMessage.addListener((_id, m) => messages.push(m));
    await vpn.createConfig('c');
    await platform.connect('p', 'c');
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await platform.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a protected socket leaves through the physical network under a full tunnel; an unprotected one goes into the tunnel', async () => {
    await vpn.setParameters({
      address: '10.80.0.2/24',
      inclusionList: ['0.0.0.0/0'],
      exclusionList: [],
      dnsServers: [],
    });
    const ifname = platform.session!.interfaceName;
    const seen: string[] = [];
    vpn.onPacketsReceived.addListener((batch) => {
      for (let i = 0; i < batch.count; i++) {
        const p = batch.packet(i);
        if (p[0] >> 4 === 4 && p[9] === 17) seen.push(p.subarray(16, 20).join('.'));
      }
    });
    // The kernel's view: the mark picks the main table.
    expect(ip('route', 'get', OUTSIDE)).toMatch(new RegExp(`dev ${ifname} table 30100`));
    expect(ip('route', 'get', OUTSIDE, 'mark', String(platform.fwmark))).toMatch(/dev phys0/);
    const plain = await udp(false);
    expect(await through('phys0', () => send(plain, OUTSIDE))).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toContain(OUTSIDE);
    seen.length = 0;
    const protectedSock = await udp(true);
    expect(await through('phys0', () => send(protectedSock, OUTSIDE))).toBeGreaterThan(0);
    expect(seen).not.toContain(OUTSIDE);
    // Bad arguments: clear errors, nothing marked.
    expect(() => vpn.protect('x')).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => vpn.protect(dgram.createSocket('udp4'))).toThrow(/bind or connect it first/);
    expect(() => vpn.protect(-1)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
  });

  test('blockOutside refuses what would leave outside the tunnel, but for exclusions and protected sockets, across a linkChanged, until disconnect', async () => {
    await vpn.setParameters({
      address: '10.80.0.2/24',
      inclusionList: ['198.18.0.0/16'],
      exclusionList: ['203.0.113.0/24'],
      dnsServers: [],
      reconnect: 'true',
      blockOutside: 'true',
    });
    expect(platform.status()).toMatchObject({ blockOutside: true });
    const plain = await udp(false);
    const prot = await udp(true);
    const check = async (phys: string) => {
      let code: string | null = '';
      expect(await through(phys, async () => (code = await send(plain, OUTSIDE)))).toBe(0);
      expect(code).toBe('EACCES'); // prohibit: refused at once, not lost
      expect(await through(phys, () => send(plain, EXCLUDED))).toBeGreaterThan(0);
      expect(await through(phys, () => send(prot, OUTSIDE))).toBeGreaterThan(0);
      // Into the tunnel as before.
      expect(ip('route', 'get', INSIDE)).toMatch(/table 30100/);
    };
    await check('phys0');
    // The physical network changes under the session: still blocked.
    const changed = waitFor('linkChanged');
    ip('route', 'replace', 'default', 'via', '192.0.2.254', 'dev', 'phys1');
    await changed;
    await check('phys1');
    // IPv6 too: nothing names it, so it is refused by the session's table
    // (without the session: no route at all, ENETUNREACH).
    const six = dgram.createSocket('udp6');
    sockets.push(six);
    expect(await send(six, '2001:db8::9')).toBe('EACCES');
    await platform.disconnect();
    const after = await udp(false);
    let code: string | null = '';
    expect(await through('phys1', async () => (code = await send(after, OUTSIDE)))).toBeGreaterThan(
      0,
    );
    expect(code).toBeNull();
    expect(await send(six, '2001:db8::9')).toBe('ENETUNREACH');
  });

  test('per-user routing: allowedUids takes only those users into the tunnel, disallowedUids all but those', async () => {
    const params = {
      address: '10.80.0.2/24',
      inclusionList: ['0.0.0.0/0'],
      exclusionList: [],
      dnsServers: [],
    };
    await vpn.setParameters({ ...params, allowedUids: [1000, [2000, 2999]] });
    const ifname = platform.session!.interfaceName;
    const via = (uid: number) => ip('route', 'get', OUTSIDE, 'uid', String(uid));
    const tunnel = new RegExp(`dev ${ifname} table 30100`);
    expect(via(1000)).toMatch(tunnel);
    expect(via(2500)).toMatch(tunnel);
    expect(via(1001)).toMatch(/dev phys0/);
    expect(via(0)).toMatch(/dev phys0/);
    expect(platform.status()).toMatchObject({
      allowedUids: [
        [1000, 1000],
        [2000, 2999],
      ],
    });
    // Real sockets of two users (setuid children): one datagram each.
    const seen: number[] = [];
    vpn.onPacketsReceived.addListener((batch) => {
      for (let i = 0; i < batch.count; i++) if (batch.packet(i)[9] === 17) seen.push(i);
    });
    const sendAs = (uid: number) =>
      spawnSync(
        process.execPath,
        [
          '-e',
          `const s = require('node:dgram').createSocket('udp4');
           s.send('x', 9, ${JSON.stringify(OUTSIDE)}, (e) => { s.close(); process.exit(e ? 1 : 0); });`,
        ],
        { uid, gid: uid, timeout: 10000 },
      ).status;
    expect(await through('phys0', async () => expect(sendAs(1001)).toBe(0))).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(0);
    expect(await through('phys0', async () => expect(sendAs(1000)).toBe(0))).toBe(0);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(1);
    // The other way round, on the same session.
    await vpn.setParameters({ ...params, disallowedUids: [1001] });
    expect(via(1001)).toMatch(/dev phys0/);
    expect(via(1000)).toMatch(tunnel);
    expect(via(0)).toMatch(tunnel);
    // Protected sockets still skip the tunnel beside the uid rules.
    expect(ip('route', 'get', OUTSIDE, 'mark', String(platform.fwmark))).toMatch(/dev phys0/);
    await expect(
      vpn.setParameters({ ...params, allowedUids: [1], disallowedUids: [2] }),
    ).rejects.toMatchObject({ message: 'allowed_uids and disallowed_uids cannot both be given;' });
  });

  test('the transmit queue: 1000 by default (the kernel gives a TUN device 500), or txQueueLength', async () => {
    const params = {
      address: '10.80.0.2/24',
      inclusionList: ['198.18.0.0/16'],
      exclusionList: [],
      dnsServers: [],
    };
    await vpn.setParameters(params);
    const read = () =>
      (
        JSON.parse(ip('-j', 'link', 'show', platform.session!.interfaceName)) as {
          txqlen: number;
        }[]
      )[0].txqlen;
    expect(read()).toBe(1000);
    await vpn.setParameters({ ...params, txQueueLength: '4000' });
    expect(read()).toBe(4000);
    expect(platform.status()).toMatchObject({ txQueueLength: 4000 });
    await expect(vpn.setParameters({ ...params, txQueueLength: '0' })).rejects.toMatchObject({
      code: 'ERR_INVALID_PARAMETERS',
      message: 'tx_queue_length not in expected range;',
    });
    expect(read()).toBe(4000); // nothing half-applied
  });
});
