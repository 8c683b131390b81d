// Faults: a read-only and a full state directory (mounted in the private
// mount namespace npm test runs us in), a corrupt session journal, two
// processes on one state directory, SIGTERM and SIGINT during a session,
// and a process that exits with a session and a send in flight. Each ends
// with nothing of the session left in the kernel and the store as it was.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, SystemError, type Platform } from '../../lib';
import { native } from '../../lib/native';
import { startFixture } from '../helpers/child';
import { ip, tool } from '../helpers/ip';
import { kernelState, NOTHING } from '../helpers/leftovers';
import { describeMounts, describeNetns } from '../helpers/netns';

jest.setTimeout(60000);

const PROVIDER = 'com.example.faults';

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir)) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile()) out[f] = fs.readFileSync(p, 'base64');
  }
  return out;
}

describeMounts('a state directory that cannot be written', () => {
  let dir: string;
  let platform: Platform | null = null;
  const logs: string[] = [];

  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-faults-'));
    logs.length = 0;
  });
  afterEach(async () => {
    await platform?.close().catch(() => undefined);
    platform = null;
    try {
      tool('umount', dir);
    } catch {
      // not mounted (any more)
    }
    fs.rmSync(dir, { recursive: true, force: true });
    expect(kernelState()).toEqual(NOTHING);
  });

  const open = () =>
    (platform = createPlatform({ stateDir: dir, log: (l) => logs.push(l), dns: false }));

  test('read-only: every change fails with EROFS naming the file, and nothing is lost', async () => {
    const first = open();
    await first.provider(PROVIDER).createConfig('keep');
    await first.close();
    const before = snapshot(dir);
    tool('mount', '--bind', dir, dir);
    tool('mount', '-o', 'remount,bind,ro', dir);

    const p = open();
    expect(await p.controlReady).toBe(false); // no socket on a read-only directory
    expect(logs.join('\n')).toMatch(/no control socket/);
    expect(p.configs()).toEqual([{ providerId: PROVIDER, id: 'keep', name: 'keep' }]);
    const vpn = p.provider(PROVIDER);
    const erofs = { name: 'SystemError', code: 'EROFS', message: expect.stringContaining(dir) };
    await expect(vpn.createConfig('new')).rejects.toMatchObject(erofs);
    await expect(vpn.destroyConfig('keep')).rejects.toMatchObject(erofs);
    await expect(p.removeConfig(PROVIDER, 'keep')).rejects.toMatchObject(erofs);
    await expect(p.connect(PROVIDER, 'keep')).rejects.toMatchObject({
      code: 'EROFS',
      message: expect.stringContaining('session journal'),
    });
    await expect(p.connect(PROVIDER, 'keep')).rejects.toBeInstanceOf(SystemError);
    expect(p.session).toBeNull();
    expect(kernelState()).toEqual(NOTHING); // the device made for it is gone
    // Still known, here and on disk; a name still taken.
    expect(p.configs()).toHaveLength(1);
    await expect(vpn.createConfig('keep')).rejects.toThrow('Name not unique.');
    expect(snapshot(dir)).toEqual(before);

    // Writable again: everything works.
    tool('umount', dir);
    await vpn.createConfig('new');
    await p.connect(PROVIDER, 'new');
    expect(p.session?.state).toBe('connecting');
    await p.disconnect();
  });

  test('full: ENOSPC, the old file intact, no temporary file, and it recovers', async () => {
    tool('mount', '-t', 'tmpfs', '-o', 'size=16k,mode=0700', 'tmpfs', dir);
    const p = open();
    const vpn = p.provider(PROVIDER);
    await vpn.createConfig('a');
    // Fill what is left.
    const filler = path.join(dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(4096));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      fs.closeSync(fd);
    }
    const before = snapshot(dir);
    const enospc = { name: 'SystemError', code: 'ENOSPC' };
    await expect(vpn.createConfig('b')).rejects.toMatchObject({
      ...enospc,
      message: expect.stringContaining(path.join(dir, 'configs.json')),
    });
    await expect(vpn.destroyConfig('a')).rejects.toMatchObject(enospc);
    await expect(p.connect(PROVIDER, 'a')).rejects.toMatchObject(enospc);
    expect(kernelState()).toEqual(NOTHING);
    expect(snapshot(dir)).toEqual(before);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(p.configs().map((c) => c.id)).toEqual(['a']);

    fs.rmSync(filler);
    await vpn.createConfig('b');
    await vpn.destroyConfig('a');
    await p.connect(PROVIDER, 'b');
    await p.disconnect();
    expect(p.configs().map((c) => c.id)).toEqual(['b']);
    const again = createPlatform({ stateDir: dir, log: () => {}, dns: false });
    expect(again.configs().map((c) => c.id)).toEqual(['b']);
    await again.close();
  });
});

describeNetns('faults of a process with a session', () => {
  let dir: string;

  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-faults-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    expect(kernelState()).toEqual(NOTHING);
  });

  test.each(['SIGTERM', 'SIGINT'] as const)(
    '%s tears the session down, then ends the process with the signal',
    async (signal) => {
      const child = startFixture('session-child.js', [dir, '--full']);
      try {
        const ifname = (await child.ready).split(' ')[1];
        const during = kernelState();
        expect(during.tunLinks).toEqual([ifname]);
        // IPv4, and IPv6 for the blackhole: each the protected sockets' goto and the lookup.
        expect(during.rules).toEqual([
          '-4 30100 goto',
          '-4 30100 lookup 30100',
          '-6 30100 goto',
          '-6 30100 lookup 30100',
        ]);
        expect(during.routes.join('\n')).toMatch(/blackhole/);
        child.child.kill(signal);
        const r = await child.exited();
        expect(r.signal).toBe(signal); // as the default action would end it
        expect(r.ms).toBeLessThan(5000);
        expect(kernelState()).toEqual(NOTHING);
        expect(fs.existsSync(path.join(dir, 'session.json'))).toBe(false);
        expect(fs.existsSync(path.join(dir, 'control.sock'))).toBe(false);
      } finally {
        child.child.kill('SIGKILL');
      }
    },
  );

  test('with a handler of its own, the session ends and the process decides', async () => {
    const child = startFixture('session-child.js', [dir, '--own-handler']);
    try {
      await child.ready;
      child.child.kill('SIGTERM');
      const r = await child.exited();
      expect(child.out()).toContain('own handler: null');
      expect(r.code).toBe(0);
      expect(kernelState()).toEqual(NOTHING);
    } finally {
      child.child.kill('SIGKILL');
    }
  });

  test('a second process on the state directory gets neither the session nor the socket', async () => {
    const first = startFixture('session-child.js', [dir]);
    let second: Platform | null = null;
    try {
      await first.ready;
      const logs: string[] = [];
      second = createPlatform({ stateDir: dir, log: (l) => logs.push(l), dns: false });
      expect(await second.controlReady).toBe(false);
      expect(logs.join('\n')).toMatch(/another platform serves/);
      expect(second.configs()).toEqual([{ providerId: 'com.example.crash', id: 'c', name: 'c' }]);
      await expect(second.connect('com.example.crash', 'c')).rejects.toMatchObject({
        code: 'ERR_SESSION_ELSEWHERE',
        message: expect.stringContaining(String(first.child.pid)),
      });
      expect(kernelState().tunLinks).toHaveLength(1); // only the first one's
      // Configurations: both write the one store, under its lock.
      await second.provider('com.example.crash').createConfig('d');
      const stored = JSON.parse(fs.readFileSync(path.join(dir, 'configs.json'), 'utf8'));
      expect(stored.configs.map((c: { id: string }) => c.id)).toEqual(['c', 'd']);

      first.child.kill('SIGTERM');
      await first.exited();
      // The first is gone, and cleanly: the second may now connect.
      await second.connect('com.example.crash', 'd');
      expect(second.session?.configId).toBe('d');
    } finally {
      first.child.kill('SIGKILL');
      await second?.close();
    }
  });

  test('a corrupt journal: the next start clears the table and the rules it could not name', async () => {
    // What a session of ours may leave, and a journal that does not say so.
    ip('rule', 'add', 'table', '30100', 'priority', '30100');
    ip('route', 'add', 'throw', '198.18.5.0/24', 'table', '30100');
    fs.writeFileSync(path.join(dir, 'session.json'), '{"pid": 12', { mode: 0o600 });
    const logs: string[] = [];
    const p = createPlatform({ stateDir: dir, log: (l) => logs.push(l), dns: false });
    await p.ready;
    expect(logs.join('\n')).toMatch(/session journal .* is corrupt; removing table 30100/);
    expect(kernelState()).toEqual(NOTHING);
    expect(fs.existsSync(path.join(dir, 'session.json'))).toBe(false);
    await p.close();
  });

  test('a rule left without any journal does not stop the next session, nor is it taken over', async () => {
    // Without a journal nobody can say whose rule this is: it may be another
    // instance's, so the session takes the next free table and leaves it be.
    ip('rule', 'add', 'table', '30100', 'priority', '30100');
    try {
      const p = createPlatform({ stateDir: dir, log: () => {}, dns: false });
      const vpn = p.provider(PROVIDER);
      await vpn.createConfig('c');
      await p.connect(PROVIDER, 'c');
      await vpn.setParameters({
        address: '10.78.0.2/24',
        inclusionList: ['198.18.0.0/16'],
        exclusionList: [],
        dnsServers: [],
      });
      expect(kernelState(30100).rules).toEqual(['-4 30100 lookup 30100']);
      expect(kernelState(30101).rules).toEqual(['-4 30101 goto', '-4 30101 lookup 30101']);
      await p.close();
      expect(kernelState(30100).rules).toEqual(['-4 30100 lookup 30100']);
      expect(kernelState(30101)).toEqual(NOTHING);
    } finally {
      ip('rule', 'del', 'table', '30100', 'priority', '30100');
    }
  });

  test.each(['natural', 'exit'])(
    'a process with a session and a send in flight exits at once (%s)',
    async (how) => {
      const child = startFixture('exit-child.js', ['session', how, dir]);
      try {
        await child.ready;
        const r = await child.exited();
        expect(r.code).toBe(0);
        expect(r.ms).toBeLessThan(5000);
        if (how === 'natural') {
          // The loop ran dry with the session active: it was torn down first.
          expect(child.out()).toContain('disconnected');
          expect(kernelState()).toEqual(NOTHING);
        } else {
          // process.exit() cannot wait: the next start removes the rest.
          const p = createPlatform({ stateDir: dir, log: () => {}, dns: false });
          await p.ready;
          await p.close();
        }
      } finally {
        child.child.kill('SIGKILL');
      }
    },
  );
});
