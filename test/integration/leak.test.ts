// The IPv6 leak guard, tested by sending and counting at the far end: a
// "physical" veth link with an IPv6 address and default route, whose peer
// sits in a namespace of its own (a child process under unshare --net, so
// the kernel deletes it with the process) and counts the UDP datagrams
// that reach 2001:db8:2::1. Without a session they arrive (the positive
// control); with a full IPv4 tunnel (0.0.0.0/0) and no ipv6Address, not one
// leaves by the physical link; after disconnect they arrive again.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type PacketBatch } from '../../lib';
import { ip, plainEnv, tool } from '../helpers/ip';
import { kernelState, NOTHING } from '../helpers/leftovers';
import { describeNetns } from '../helpers/netns';
import { send, udpSocket } from '../helpers/udp';

jest.setTimeout(30000);

const PORT = 40123;
const TARGET = '2001:db8:2::1';
const N = 200;

describeNetns('the IPv6 leak guard', () => {
  let far: ChildProcessWithoutNullStreams;
  let lines: string[] = [];

  /** The far end's count of datagrams so far. */
  const farCount = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the far end did not answer')), 5000);
      const before = lines.length;
      const poll = setInterval(() => {
        const line = lines.slice(before).find((l) => l.startsWith('count '));
        if (line === undefined) return;
        clearInterval(poll);
        clearTimeout(t);
        resolve(Number(line.slice(6)));
      }, 5);
      far.stdin.write('count\n');
    });

  /** Sends N datagrams to the target; a send refused by the kernel is not an error here. */
  async function sendAll(): Promise<{ sent: number; refused: number }> {
    const s = await udpSocket('udp6', '::');
    let refused = 0;
    for (let i = 0; i < N; i++) {
      await send(s, Buffer.from(`leak ${i}`), PORT, TARGET).catch(() => refused++);
    }
    s.close();
    await new Promise((r) => setTimeout(r, 300)); // in flight on the veth
    return { sent: N - refused, refused };
  }

  beforeAll(async () => {
    ip('link', 'set', 'lo', 'up');
    // The far end: a namespace of its own, with the counter in it.
    far = spawn(
      'unshare',
      [
        '--net',
        '--',
        process.execPath,
        path.join(__dirname, '../fixtures/udp-counter.js'),
        `${PORT}`,
      ],
      { env: plainEnv() },
    );
    far.stdout.on('data', (d: Buffer) => lines.push(...String(d).trim().split('\n')));
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (lines.includes('ready')) {
          clearInterval(t);
          resolve();
        }
      }, 5);
      far.on('exit', (code) => reject(new Error(`udp-counter exited ${code}`)));
    });
    const pid = String(far.pid);
    const there = (...args: string[]) => tool('nsenter', '-t', pid, '-n', 'ip', ...args);
    ip('link', 'add', 'phys0', 'type', 'veth', 'peer', 'name', 'phys1');
    ip('link', 'set', 'phys1', 'netns', pid);
    ip('addr', 'add', '192.0.2.1/24', 'dev', 'phys0');
    ip('-6', 'addr', 'add', '2001:db8:1::1/64', 'dev', 'phys0', 'nodad');
    ip('link', 'set', 'phys0', 'up');
    there('link', 'set', 'lo', 'up');
    there('addr', 'add', '192.0.2.254/24', 'dev', 'phys1');
    there('-6', 'addr', 'add', '2001:db8:1::fe/64', 'dev', 'phys1', 'nodad');
    there('-6', 'addr', 'add', `${TARGET}/128`, 'dev', 'lo');
    there('link', 'set', 'phys1', 'up');
    ip('route', 'add', 'default', 'via', '192.0.2.254');
    ip('-6', 'route', 'add', 'default', 'via', '2001:db8:1::fe', 'dev', 'phys0');
  });
  afterAll(() => {
    try {
      ip('link', 'del', 'phys0'); // its peer goes with it
    } catch {
      // not made
    }
    far?.stdin.end();
    far?.kill();
    lines = [];
  });

  test('without a session IPv6 reaches the far end; with a full IPv4 tunnel none leaves', async () => {
    // Positive control: the path works.
    const c0 = await farCount();
    const control = await sendAll();
    const c1 = await farCount();
    expect(control.refused).toBe(0);
    expect(c1 - c0).toBe(N);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-leak-'));
    const platform = createPlatform({ stateDir: dir, log: () => {}, dns: false });
    try {
      const vpn = platform.provider('com.example.leak');
      await vpn.createConfig('c');
      await platform.connect('com.example.leak', 'c');
      await vpn.setParameters({
        address: '10.80.0.2/24',
        inclusionList: ['0.0.0.0/0'],
        exclusionList: [],
        dnsServers: [],
      });
      // The tunnel is live: IPv4 goes into it.
      let intoTunnel = 0;
      vpn.onPacketsReceived.addListener((b: PacketBatch) => {
        for (let i = 0; i < b.count; i++) if (b.packet(i)[0] >> 4 === 4) intoTunnel++;
      });
      const s4 = await udpSocket('udp4', '0.0.0.0');
      await send(s4, Buffer.from('v4'), PORT, '198.51.100.9');
      s4.close();

      const during = await sendAll();
      const c2 = await farCount();
      expect(c2 - c1).toBe(0); // not one datagram left by the physical link
      expect(during.refused).toBe(N); // the blackhole answers at once: EINVAL / ENETUNREACH
      expect(intoTunnel).toBeGreaterThan(0);

      await platform.disconnect();
      const after = await sendAll();
      const c3 = await farCount();
      expect(after.refused).toBe(0);
      expect(c3 - c2).toBe(N); // the guard goes with the session
    } finally {
      await platform.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(kernelState()).toEqual(NOTHING);
  });
});
