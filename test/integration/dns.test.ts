// DNS through the resolv.conf backend: applied on setParameters, restored on
// disconnect and after a crash. /etc/resolv.conf here is the scratch file
// that npm test binds over it in a private mount namespace.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform } from '../../lib';
import { Journal } from '../../lib/platform/journal';
import { native } from '../../lib/native';
import { startFixture } from '../helpers/child';
import { kernelState } from '../helpers/leftovers';
import { describeDns, SCRATCH_MARK } from '../helpers/netns';

const RESOLV = '/etc/resolv.conf';

describeDns('DNS in a private mount namespace', () => {
  let dir: string;
  let platform: Platform;
  let original: string;

  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  beforeEach(async () => {
    original = fs.readFileSync(RESOLV, 'utf8');
    expect(original.startsWith(SCRATCH_MARK)).toBe(true);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-dns-'));
    platform = createPlatform({ stateDir: dir, log: () => {} });
    const vpn = platform.provider('p');
    await vpn.createConfig('c');
    await platform.connect('p', 'c');
  });
  afterEach(async () => {
    await platform.close();
    fs.writeFileSync(RESOLV, original);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('servers and search domains are applied, then the original comes back', async () => {
    await platform.provider('p').setParameters({
      address: '10.60.0.2/24',
      exclusionList: [],
      inclusionList: ['10.61.0.0/16'],
      dnsServers: ['198.51.100.53', '2001:db8::53'],
      domainSearch: ['corp.example', 'example.org'],
    });
    const ifname = platform.session!.interfaceName;
    expect(fs.readFileSync(RESOLV, 'utf8')).toBe(
      `# Written by vpn-provider for ${ifname}; the original comes back on disconnect.\n` +
        'nameserver 198.51.100.53\nnameserver 2001:db8::53\nsearch corp.example example.org\n',
    );
    const backup = path.join(dir, 'resolv.conf.orig');
    expect(fs.statSync(backup).mode & 0o777).toBe(0o600);
    // A second setParameters keeps the true original.
    await platform.provider('p').setParameters({
      address: '10.60.0.2/24',
      exclusionList: [],
      inclusionList: [],
      dnsServers: ['198.51.100.54'],
    });
    expect(fs.readFileSync(backup, 'utf8')).toBe(original);
    await platform.disconnect();
    expect(fs.readFileSync(RESOLV, 'utf8')).toBe(original);
    expect(fs.existsSync(backup)).toBe(false);
  });

  test('a bad search domain is refused and changes nothing', async () => {
    await expect(
      platform.provider('p').setParameters({
        address: '10.60.0.2/24',
        exclusionList: [],
        inclusionList: [],
        dnsServers: ['198.51.100.53'],
        domainSearch: ['ok.example', 'bad;rm -rf /'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_DNS' });
    expect(fs.readFileSync(RESOLV, 'utf8')).toBe(original);
  });

  test('after a kill -9 of the process whose session wrote it, the next start restores resolv.conf byte for byte', async () => {
    // An original with what a rewrite would lose: CRLF, no final newline,
    // bytes that are not UTF-8, trailing blanks.
    const tricky = Buffer.concat([
      Buffer.from(`${SCRATCH_MARK}\nnameserver 192.0.2.53\r\noptions ndots:2 \n# `),
      Buffer.from([0xff, 0xfe, 0xe9]),
      Buffer.from('\nsearch x.example  '),
    ]);
    fs.writeFileSync(RESOLV, tricky);
    const crashDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-dns-crash-'));
    const child = startFixture('session-child.js', [crashDir, '--dns']);
    try {
      const ifname = (await child.ready).split(' ')[1];
      expect(fs.readFileSync(RESOLV, 'utf8')).toBe(
        `# Written by vpn-provider for ${ifname}; the original comes back on disconnect.\n` +
          'nameserver 198.51.100.53\nnameserver 2001:db8::53\nsearch corp.example\n',
      );
      const journal = new Journal(crashDir);
      expect(journal.read()).toMatchObject({ pid: child.child.pid, resolvConfPath: RESOLV });
      child.child.kill('SIGKILL');
      expect(await child.exited()).toMatchObject({ signal: 'SIGKILL' });
      // Left behind: the process had no chance to put it back.
      expect(fs.readFileSync(RESOLV, 'utf8')).toMatch(/^# Written by vpn-provider/);
      const next = createPlatform({ stateDir: crashDir, log: () => {} });
      await next.ready;
      expect(fs.readFileSync(RESOLV).equals(tricky)).toBe(true);
      expect(fs.existsSync(path.join(crashDir, 'resolv.conf.orig'))).toBe(false);
      expect(journal.read()).toBeNull();
      await next.close();
    } finally {
      if (child.child.exitCode === null && child.child.signalCode === null)
        child.child.kill('SIGKILL');
      fs.rmSync(crashDir, { recursive: true, force: true });
    }
  });

  test.each([
    ['an uncaught exception', 'throw', 1],
    ['an unhandled rejection', 'reject', 1],
    ['process.exit()', 'exit', 3],
  ])(
    '%s in the provider ends the session before the process dies: no rule, route or DNS of it stays',
    async (_what, mode, code) => {
      const crashDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-dns-die-'));
      const child = startFixture('session-child.js', [crashDir, '--dns', '--full', '--die', mode]);
      try {
        const ifname = (await child.ready).split(' ')[1];
        const table = new Journal(crashDir).read()?.table as number;
        expect(table).toBeGreaterThanOrEqual(30100);
        expect(kernelState(table).rules.length).toBeGreaterThan(0);
        expect(fs.readFileSync(RESOLV, 'utf8')).toMatch(/^# Written by vpn-provider/);
        child.child.kill('SIGUSR2'); // now the provider's code fails
        expect(await child.exited()).toMatchObject({ code, signal: null });
        // Gone with the process, not left for the next start.
        const left = kernelState(table);
        expect({ rules: left.rules, routes: left.routes }).toEqual({ rules: [], routes: [] });
        expect(left.tunLinks).not.toContain(ifname);
        expect(fs.readFileSync(RESOLV, 'utf8')).toBe(original);
        expect(fs.existsSync(path.join(crashDir, 'resolv.conf.orig'))).toBe(false);
        expect(new Journal(crashDir).read()).toBeNull();
        // The process still died of its error, as it would have without us.
        if (mode !== 'exit') expect(child.out()).toMatch(/a bug in the provider|nobody awaited/);
      } finally {
        if (child.child.exitCode === null && child.child.signalCode === null)
          child.child.kill('SIGKILL');
        fs.rmSync(crashDir, { recursive: true, force: true });
      }
    },
  );

  test('dnsMatchDomains with the resolv.conf backend: a clear error, nothing applied', async () => {
    await expect(
      platform.provider('p').setParameters({
        address: '10.60.0.2/24',
        exclusionList: [],
        inclusionList: [],
        dnsServers: ['198.51.100.53'],
        dnsMatchDomains: ['corp.example'],
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_DNS', message: /needs systemd-resolved/ });
    expect(fs.readFileSync(RESOLV, 'utf8')).toBe(original);
    expect(platform.status().address).toBeUndefined();
  });

  test('dns: false leaves DNS alone', async () => {
    await platform.close();
    platform = createPlatform({ stateDir: dir, dns: false, log: () => {} });
    await platform.connect('p', 'c');
    await platform.provider('p').setParameters({
      address: '10.60.0.2/24',
      exclusionList: [],
      inclusionList: [],
      dnsServers: ['198.51.100.53'],
    });
    expect(fs.readFileSync(RESOLV, 'utf8')).toBe(original);
  });
});
