// The kernel agrees with RouteTable: inclusions through the tunnel,
// exclusions and everything else around it, checked with `ip route get`.
// Also the IPv6 leak guard, teardown, and cleanup after a kill -9.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform, type VpnProvider } from '../../lib';
import { native } from '../../lib/native';
import { ip, ipBatch } from '../helpers/ip';
import { describeNetns } from '../helpers/netns';

jest.setTimeout(60000);

/** The device the kernel would send each IPv4 destination through. */
function routeDevices(dsts: string[]): string[] {
  const out = ipBatch(dsts.map((d) => `route get ${d}\n`).join(''), '-j');
  return out
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { dev: string }[])[0].dev);
}

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const u32ToIp = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
const BASE = (198 << 24) | (18 << 16); // 198.18.0.0/15

describeNetns('routes and rules in the kernel', () => {
  let dir: string;
  let platform: Platform;
  let vpn: VpnProvider;

  beforeAll(() => {
    ip('link', 'set', 'lo', 'up');
    // The "physical" network: a veth pair with the default route.
    ip('link', 'add', 'phys0', 'type', 'veth', 'peer', 'name', 'phys1');
    ip('addr', 'add', '192.0.2.1/24', 'dev', 'phys0');
    ip('link', 'set', 'phys0', 'up');
    ip('link', 'set', 'phys1', 'up');
    ip('route', 'add', 'default', 'via', '192.0.2.254');
  });
  afterAll(() => {
    ip('link', 'del', 'phys0');
  });
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-routing-'));
    platform = createPlatform({ stateDir: dir, log: () => {}, dns: false });
    vpn = platform.provider('com.example.vpn');
    await vpn.createConfig('c');
    await platform.connect('com.example.vpn', 'c');
  });
  afterEach(async () => {
    await platform.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('for 3000 destinations the kernel and RouteTable agree', async () => {
    const rand = rng(42);
    const prefix = () => {
      const len = 15 + Math.floor(rand() * 18); // /15../32
      const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
      const addr = ((BASE | Math.floor(rand() * 2 ** 17)) & mask) >>> 0;
      return `${u32ToIp(addr)}/${len}`;
    };
    const inclusionList = Array.from({ length: 300 }, prefix);
    const exclusionList = Array.from({ length: 150 }, prefix);
    const { warnings } = await vpn.setParameters({
      address: '10.99.0.2/24',
      inclusionList,
      exclusionList,
      dnsServers: [],
    });
    expect(Array.isArray(warnings)).toBe(true); // duplicates among random prefixes are dropped
    const routes = platform.routes!;
    const dev = platform.session!.interfaceName;
    const dsts = Array.from({ length: 3000 }, (_, i) =>
      u32ToIp(
        i % 10 === 0
          ? (Math.floor(rand() * 2 ** 32) | 0x01000000) & 0xdfffffff
          : BASE + Math.floor(rand() * 2 ** 17),
      ),
    ).filter(
      (d) =>
        !d.startsWith('10.99.0.') &&
        !d.startsWith('192.0.2.') &&
        !d.startsWith('127.') &&
        !d.startsWith('0.'),
    );
    const devices = routeDevices(dsts);
    let tunnel = 0;
    const mismatches: string[] = [];
    dsts.forEach((d, i) => {
      const inTunnel = routes.lookup(d) === 1;
      if (inTunnel) tunnel++;
      if (inTunnel !== (devices[i] === dev))
        mismatches.push(`${d}: table ${routes.lookup(d)}, kernel ${devices[i]}`);
    });
    expect(mismatches).toEqual([]);
    expect(tunnel).toBeGreaterThan(100); // both outcomes were exercised
    expect(dsts.length - tunnel).toBeGreaterThan(100);
  });

  test('a full IPv4 tunnel without IPv6 blackholes IPv6; exclusions still go around', async () => {
    await vpn.setParameters({
      address: '10.99.0.2/24',
      inclusionList: ['0.0.0.0/0'],
      exclusionList: ['198.18.9.0/24'],
      dnsServers: [],
    });
    const dev = platform.session!.interfaceName;
    expect(routeDevices(['198.18.1.1', '203.0.113.7', '198.18.9.9'])).toEqual([dev, dev, 'phys0']);
    ip('-6', 'route', 'add', 'default', 'dev', 'phys0');
    expect(() => ip('-6', 'route', 'get', '2001:db8::1')).toThrow(
      /Invalid argument|Network is unreachable/,
    );
    expect(ip('-6', 'route', 'show', 'table', '30100')).toMatch(/blackhole (default|::\/0) /);
    ip('-6', 'route', 'del', 'default', 'dev', 'phys0');
  });

  test('disconnect removes every rule and route', async () => {
    await vpn.setParameters({
      address: '10.99.0.2/24',
      inclusionList: ['198.18.0.0/16', '0.0.0.0/0'],
      exclusionList: ['198.18.7.0/24'],
      dnsServers: [],
    });
    expect(ip('rule', 'show')).toMatch(/lookup 30100/);
    await platform.disconnect();
    expect(ip('rule', 'show')).not.toMatch(/30100/);
    expect(ip('-6', 'rule', 'show')).not.toMatch(/30100/);
    expect(ip('route', 'show', 'table', '30100')).toBe('');
    expect(ip('-6', 'route', 'show', 'table', '30100')).toBe('');
  });

  test('100k routes go to the kernel in batches within 2 s', async () => {
    const inclusionList = Array.from(
      { length: 100000 },
      (_, i) => `${u32ToIp(((BASE + i * 2) & ~1) >>> 0)}/31`,
    );
    const t0 = Date.now();
    await vpn.setParameters({
      address: '10.99.0.2/24',
      inclusionList,
      exclusionList: [],
      dnsServers: [],
    });
    const ms = Date.now() - t0;
    console.log(`100k routes applied in ${ms} ms`);
    expect(platform.routes!.size).toBe(100000);
    const count = ip('route', 'show', 'table', '30100').trim().split('\n').length;
    expect(count).toBe(100000);
    expect(ms).toBeLessThan(2000 * 3); // target 2 s; the bench reports the figure, this only catches a collapse
  });

  test('after a kill -9, the next start removes what the dead session left', async () => {
    await platform.close();
    const crashDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-crash-'));
    try {
      const child = spawn(
        process.execPath,
        [path.join(__dirname, '../fixtures/session-child.js'), crashDir],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d) => String(d).includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
      });
      expect(ip('rule', 'show')).toMatch(/lookup 30100/);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(ip('rule', 'show')).toMatch(/lookup 30100/); // left behind
      expect(ip('route', 'show', 'table', '30100')).toMatch(/throw 198.18.200.0\/24/);
      const next = createPlatform({ stateDir: crashDir, log: () => {}, dns: false });
      await next.ready;
      expect(ip('rule', 'show')).not.toMatch(/30100/);
      expect(ip('route', 'show', 'table', '30100')).toBe('');
      expect(fs.existsSync(path.join(crashDir, 'session.json'))).toBe(false);
      await next.close();
    } finally {
      fs.rmSync(crashDir, { recursive: true, force: true });
    }
    platform = createPlatform({ stateDir: dir, log: () => {}, dns: false }); // for afterEach
  });
});

test('native rule checks', () => {
  expect(() => native.addRule({ family: 5 as 4, table: 1, priority: 1 })).toThrow(/family/);
});
