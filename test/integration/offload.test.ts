// Segmentation offloads against the real kernel: TCP and UDP super-packets
// out of a TUN device (split in native code, or handed over whole), and
// coalesced super-packets into one, checked byte-exact by the receiving
// kernel's sockets (a bad checksum or a wrong header would be dropped there
// and the transfer would stall or come out different).
//
// Topology: device A in the test's namespace (198.18.1.1, and 2001:db8:1::1),
// device B moved into a namespace of its own, where test/fixtures/sink.js
// runs (198.18.2.2, 2001:db8:2::2); JS bridges A <-> B.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as path from 'node:path';
import { TunDevice, type PacketBatch } from '../../lib';
import { native, TUN_F } from '../../lib/native';
import { describeNetns, testUnless, usoSkipReason } from '../helpers/netns';
import { ip, plainEnv } from '../helpers/ip';
import { ipv4Udp, l4ChecksumValid, pattern } from '../helpers/packets';

// The link's own IPv6 chatter (router solicitations) shares the queue.
const isUdp = (p: Uint8Array) => (p[0] >> 4 === 6 ? p[6] : p[9]) === 17;

const SINK = path.join(__dirname, '../fixtures/sink.js');
type Mode = 'split' | 'super';

interface Sink {
  child: ChildProcess;
  result: Promise<Record<string, unknown>>;
}

/** Starts the sink in a new network namespace; resolves once it listens. */
async function startSink(args: string[]): Promise<Sink> {
  const child = spawn('unshare', ['--net', process.execPath, SINK, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  child.stdout!.on('data', (d) => {
    out += d;
    let i;
    while ((i = out.indexOf('\n')) >= 0) {
      lines.push(out.slice(0, i));
      out = out.slice(i + 1);
      wake?.();
    }
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (lines.length) return resolve(lines.shift()!);
        if (child.exitCode !== null) return reject(new Error('the sink exited'));
        wake = check;
      };
      child.once('exit', () => wake?.());
      check();
    });
  expect(await next()).toBe('ready');
  return { child, result: next().then((l) => JSON.parse(l)) };
}

function inSink(sink: Sink, ...args: string[]): void {
  execFileSync('nsenter', ['-t', String(sink.child.pid), '-n', 'ip', ...args], {
    env: plainEnv(),
  });
}

let seq = 0;

/**
 * 50 segments of 1200 bytes in one sendmsg from src to dst:5400, which the
 * kernel keeps whole to a TUN device with USO (Node's dgram cannot set
 * UDP_SEGMENT; python3 can).
 */
function udpGsoSend(src: string, dst: string): void {
  const py = [
    'import socket,sys',
    'fam=socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET',
    's=socket.socket(fam,socket.SOCK_DGRAM)',
    's.bind((sys.argv[1],0))',
    's.setsockopt(socket.SOL_UDP,103,1200)',
    's.sendto(bytes((i*7)&255 for i in range(60000)),(sys.argv[2],5400))',
  ].join('\n');
  execFileSync('python3', ['-c', py, src, dst], { env: plainEnv() });
}

/** A and B bridged by JS, B inside the sink's namespace. */
async function topology(mode: Mode, sink: Sink) {
  const n = seq++;
  const opts = { superPackets: mode === 'super' };
  const a = await TunDevice.open({
    name: `ofa${n}`,
    addresses: ['198.18.1.1/24', '2001:db8:1::1/64'],
    ...opts,
  });
  const b = await TunDevice.open({ name: `ofb${n}`, up: false, ...opts });
  ip('link', 'set', b.name, 'netns', String(sink.child.pid));
  inSink(sink, 'link', 'set', 'lo', 'up');
  inSink(sink, 'addr', 'add', '198.18.2.2/24', 'dev', b.name);
  inSink(sink, 'addr', 'add', '2001:db8:2::2/64', 'dev', b.name, 'nodad');
  inSink(sink, 'link', 'set', b.name, 'up');
  inSink(sink, 'route', 'add', '198.18.1.0/24', 'dev', b.name);
  inSink(sink, 'route', 'add', '2001:db8:1::/64', 'dev', b.name);
  ip('route', 'replace', '198.18.2.0/24', 'dev', a.name);
  ip('-6', 'route', 'replace', '2001:db8:2::/64', 'dev', a.name);
  const withHeader = mode === 'super';
  // The wire-size packets the bridge wrote into B, counted here to check
  // B's own count: a super-packet is ceil(payload / gso size) of them.
  const toB = { wire: 0 };
  const bridge = (from: TunDevice, to: TunDevice, count: { wire: number } | null) =>
    from.onPacketsReceived.addListener((batch: PacketBatch) => {
      const out: Uint8Array[] = [];
      const wire: number[] = [];
      for (let i = 0; i < batch.count; i++) {
        out.push(withHeader ? batch.withHeader(i) : batch.packet(i));
        const g = batch.gso(i);
        const p = batch.packet(i);
        const ipLen = p[0] >> 4 === 6 ? 40 : (p[0] & 15) * 4;
        const l4Len = g?.type === 'udp' ? 8 : (p[ipLen + 12] >> 4) * 4;
        wire.push(g?.type ? Math.ceil((p.length - ipLen - l4Len) / g.size) : 1);
      }
      // Written before the listener returns: the views are still valid.
      const n = to.trySendPackets(out, 0, { withHeader });
      if (count) for (let i = 0; i < n; i++) count.wire += wire[i];
    });
  bridge(a, b, toB);
  bridge(b, a, null);
  return { a, b, toB };
}

describeNetns('TUN offloads (GSO/GRO) in private namespaces', () => {
  const devices: TunDevice[] = [];
  const sinks: Sink[] = [];
  beforeAll(() => ip('link', 'set', 'lo', 'up'));
  afterEach(() => {
    devices.splice(0).forEach((d) => d.close());
    for (const s of sinks.splice(0)) if (s.child.exitCode === null) s.child.kill('SIGKILL');
  });
  const sink = async (args: string[]) => {
    const s = await startSink(args);
    sinks.push(s);
    return s;
  };

  test('the kernel takes TSO (and USO from Linux 6.2); offload: false opens a plain device', async () => {
    const on = await TunDevice.open({});
    const off = await TunDevice.open({ offload: false });
    devices.push(on, off);
    // USO where the kernel has it (6.2+): decided by the kernel's version,
    // so that a device that fails to switch it on fails here.
    const uso = usoSkipReason === null;
    expect(on.offloads).toEqual({ tcp4: true, tcp6: true, udp4: uso, udp6: uso });
    expect(off.offloads).toBeNull();
    // A plain device refuses what only an offload device can do.
    await expect(
      off.sendPackets([new Uint8Array(40).fill(0x45)], { withHeader: true }),
    ).rejects.toMatchObject({ code: 'ERR_NO_OFFLOAD' });
  });

  test.each([
    ['split', '198.18.2.2'],
    ['split', '2001:db8:2::2'],
    ['super', '198.18.2.2'],
    ['super', '2001:db8:2::2'],
  ] as [Mode, string][])(
    'a TCP stream crosses two bridged devices byte-exact (%s, to %s)',
    async (mode, dst) => {
      const s = await sink(['tcp', '5201']);
      const { a, b, toB } = await topology(mode, s);
      devices.push(a, b);
      const data = pattern(24 << 20, 7);
      await new Promise<void>((resolve, reject) => {
        const c = net.connect(5201, dst, () => c.end(data));
        c.on('error', reject);
        c.on('close', () => resolve());
        c.resume();
      });
      const got = await s.result;
      expect(got).toEqual({
        bytes: data.length,
        sha256: createHash('sha256').update(data).digest('hex'),
      });
      const ca = a.counters();
      const cb = b.counters();
      // The sender's kernel handed A super-packets ...
      expect(ca.rxSuperPackets).toBeGreaterThan(0);
      expect(ca.rxBytes / ca.rxPackets).toBeGreaterThan(4000);
      // ... carrying at least one segment per 1448 bytes of the stream.
      const wireIn = ca.rxPackets - ca.rxSuperPackets + ca.rxSegments;
      expect(wireIn).toBeGreaterThanOrEqual(Math.ceil(data.length / 1448));
      expect(ca.rxSegments).toBeLessThan(ca.rxSuperPackets * 64);
      // B wrote super-packets: coalesced again (split) or forwarded whole;
      // txPackets counts the wire-size packets in them.
      expect(cb.txSuperPackets).toBeGreaterThan(0);
      expect(cb.txPackets).toBe(toB.wire);
      expect(cb.txPackets).toBeGreaterThan(data.length / 1500);
      if (mode === 'split') expect(cb.txPackets / cb.txBatches).toBeGreaterThan(1);
      expect(ca.gsoErrors + cb.gsoErrors).toBe(0);
    },
  );

  test('consecutive UDP datagrams of one flow are coalesced and arrive intact, in order', async () => {
    const count = 400;
    const s = await sink(['udp', '5300', String(count)]);
    const { a, b } = await topology('split', s);
    devices.push(a, b);
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '198.18.1.1', r));
    const sent = createHash('sha256');
    const lengths: number[] = [];
    try {
      for (let i = 0; i < count; i += 20) {
        // 20 at a time, then let the loop run: one batch for A, one
        // sendPackets for B, which joins the run into super-packets.
        const group = [];
        for (let k = i; k < i + 20; k++) {
          const d = pattern(k % 20 === 19 ? 300 : 1000, k);
          sent.update(d);
          lengths.push(d.length);
          group.push(new Promise<void>((r) => sock.send(d, 5300, '198.18.2.2', () => r())));
        }
        await Promise.all(group);
        await new Promise((r) => setTimeout(r, 5));
      }
      const got = await s.result;
      expect(got).toEqual({ lengths, sha256: sent.digest('hex') });
      expect(b.counters().txSuperPackets).toBeGreaterThan(0);
      expect(b.counters().txPackets).toBeGreaterThanOrEqual(count);
    } finally {
      sock.close();
    }
  });

  testUnless(
    usoSkipReason,
    'a UDP GSO send (UDP_SEGMENT) arrives as one super-packet; split gives valid datagrams',
    async () => {
      const dev = await TunDevice.open({
        addresses: ['198.18.9.1/24', '2001:db8:9::1/64'],
        superPackets: true,
      });
      devices.push(dev);
      expect(dev.offloads).toMatchObject({ udp4: true, udp6: true });
      for (const [src, dst] of [
        ['198.18.9.1', '198.18.9.2'],
        ['2001:db8:9::1', '2001:db8:9::2'],
      ]) {
        const raw: { type: string | null; size: number; len: number }[] = [];
        const split: Uint8Array[] = [];
        const each: Uint8Array[] = [];
        const done = new Promise<void>((resolve) => {
          const onBatch = (batch: PacketBatch) => {
            for (let i = 0; i < batch.count; i++) {
              const g = batch.gso(i);
              raw.push({ type: g?.type ?? null, size: g?.size ?? 0, len: batch.length(i) });
            }
            batch.split((segs) => {
              for (let i = 0; i < segs.count; i++)
                if (isUdp(segs.packet(i))) split.push(segs.packet(i).slice());
            });
            if (split.length >= 50) {
              dev.onPacketsReceived.removeListener(onBatch);
              resolve();
            }
          };
          dev.onPacketsReceived.addListener(onBatch);
        });
        const onEach = (p: ArrayBuffer) => {
          if (isUdp(new Uint8Array(p))) each.push(new Uint8Array(p));
        };
        dev.onPacketReceived.addListener(onEach);
        udpGsoSend(src, dst);
        await done;
        dev.onPacketReceived.removeListener(onEach);
        const supers = raw.filter((r) => r.type === 'udp');
        expect(supers).toEqual([
          { type: 'udp', size: 1200, len: 60000 + 8 + (src.includes(':') ? 40 : 20) },
        ]);
        expect(split).toHaveLength(50);
        const payload = Buffer.concat(
          split.map((p) => p.subarray((p[0] >> 4 === 6 ? 40 : 20) + 8)),
        );
        expect(
          payload.equals(Buffer.from(Array.from({ length: 60000 }, (_, i) => (i * 7) & 255))),
        ).toBe(true);
        for (const p of split) {
          expect(p.length).toBeLessThanOrEqual(1200 + 48);
          expect(l4ChecksumValid(p)).toBe(true);
        }
        // Chrome's per-packet event gets the same wire-size packets.
        expect(each.map((p) => Buffer.from(p).toString('hex'))).toEqual(
          split.map((p) => Buffer.from(p).toString('hex')),
        );
      }
    },
  );

  test('falls back: a kernel without USO joins no UDP runs; one that takes no offload gives a plain device', async () => {
    // Three datagrams of one flow, to a socket on the device's own address.
    const run = [0, 1, 2].map((i) =>
      ipv4Udp({
        src: '198.18.11.2',
        dst: '198.18.11.1',
        srcPort: 40000,
        dstPort: 5500,
        payload: pattern(i === 2 ? 200 : 1000, i),
      }),
    );
    const expectDelivered = async (dev: TunDevice) => {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(5500, '198.18.11.1', r));
      const got: Buffer[] = [];
      const all = new Promise<void>((r) =>
        sock.on('message', (m) => got.push(m) === run.length && r()),
      );
      try {
        await dev.sendPackets(run);
        await all;
        expect(got.map((g) => g.toString('hex'))).toEqual(
          run.map((p) => Buffer.from(p.subarray(28)).toString('hex')),
        );
      } finally {
        sock.close();
      }
    };
    const plug = async (opened: {
      fd: number;
      name: string;
      ifindex: number;
      offloads: number;
    }) => {
      const dev = TunDevice.fromFd(opened.fd, {}, opened.name, opened.ifindex, opened.offloads);
      devices.push(dev);
      await dev.addAddress('198.18.11.1/24');
      await dev.setLink({ up: true });
      return dev;
    };

    const full = await plug(await native.openTun({ offload: true }));
    await expectDelivered(full);
    expect(full.offloads?.udp4).toBe(usoSkipReason === null);
    expect(full.counters().txSuperPackets).toBe(usoSkipReason === null ? 1 : 0);
    full.close();

    const noUso = await plug(
      await native.openTun({ offload: true, offloadMask: TUN_F.CSUM | TUN_F.TSO4 | TUN_F.TSO6 }),
    );
    expect(noUso.offloads).toEqual({ tcp4: true, tcp6: true, udp4: false, udp6: false });
    await expectDelivered(noUso);
    expect(noUso.counters().txSuperPackets).toBe(0);
    noUso.close();

    // Nothing taken (TSO_ECN alone is no usable set): reopened without a header.
    const opened = await native.openTun({ offload: true, offloadMask: 0x08 });
    expect(opened.offloads).toBe(0);
    const plain = await plug(opened);
    expect(plain.offloads).toBeNull();
    await expectDelivered(plain);
  });

  testUnless(
    usoSkipReason,
    'split() skips batch entries JS corrupted, and refuses a detached buffer',
    async () => {
      const dev = await TunDevice.open({ addresses: ['198.18.12.1/24'], superPackets: true });
      devices.push(dev);
      expect(dev.offloads?.udp4).toBe(true); // the UDP super-packet below needs USO
      const seen = new Promise<{ segments: number; detached: unknown }>((resolve) =>
        dev.onPacketsReceived.addListener((batch) => {
          let i = 0;
          while (i < batch.count && batch.gso(i)?.type !== 'udp') i++;
          if (i === batch.count) return;
          batch.meta[2 * i] = 1 << 30; // an offset far outside the slab
          let segments = 0;
          batch.split((segs) => {
            for (let k = 0; k < segs.count; k++) if (isUdp(segs.packet(k))) segments++;
          });
          structuredClone(batch.buffer, { transfer: [batch.buffer] });
          let detached: unknown = null;
          try {
            batch.split(() => undefined);
          } catch (err) {
            detached = err;
          }
          resolve({ segments, detached });
        }),
      );
      udpGsoSend('198.18.12.1', '198.18.12.2');
      const r = await seen;
      expect(r.segments).toBe(0);
      expect(dev.counters().gsoErrors).toBe(1);
      expect(r.detached).toMatchObject({ code: 'ERR_BUFFER_DETACHED' });
    },
  );

  test('a bad virtio-net header is refused with its index before anything is written', async () => {
    const dev = await TunDevice.open({ addresses: ['198.18.10.1/24'] });
    devices.push(dev);
    const good = new Uint8Array(10 + 28);
    good.set([0x45, 0, 0, 28], 10); // no GSO, no flags: a plain IPv4 packet
    good[10 + 9] = 17;
    const bad = good.slice();
    bad[1] = 1; // GSO TCPv4 on a UDP packet
    const before = dev.counters().txPackets;
    await expect(dev.sendPackets([good, bad], { withHeader: true })).rejects.toMatchObject({
      code: 'ERR_BAD_VNET_HEADER',
      index: 1,
    });
    expect(dev.counters().txPackets).toBe(before);
  });
});
