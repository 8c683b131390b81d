// A real TUN device inside the private namespace npm test runs us in.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { TunDevice, PacketBatch } from '../../lib';
import { native } from '../../lib/native';
import { describeNetns } from '../helpers/netns';
import { ipv4Udp, ipv6Udp, ip4, ip6, pattern } from '../helpers/packets';
import { udpSocket, send, receive } from '../helpers/udp';
import { runChild } from '../helpers/child';

jest.setTimeout(30000);

/** UDP packets to dstPort, as copies, until n have come. */
function collectUdp(
  dev: TunDevice,
  dstPort: number,
  n: number,
  timeoutMs = 5000,
): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      dev.onPacketsReceived.removeListener(l);
      reject(new Error(`got ${got.length} of ${n} packets`));
    }, timeoutMs);
    const l = (batch: PacketBatch) => {
      for (let i = 0; i < batch.count; i++) {
        const p = batch.packet(i);
        const v = p[0] >> 4;
        const off = v === 4 ? (p[0] & 15) * 4 : 40;
        const proto = v === 4 ? p[9] : p[6];
        if (proto === 17 && ((p[off + 2] << 8) | p[off + 3]) === dstPort) got.push(p.slice());
      }
      if (got.length >= n) {
        clearTimeout(t);
        dev.onPacketsReceived.removeListener(l);
        resolve(got);
      }
    };
    dev.onPacketsReceived.addListener(l);
  });
}

describeNetns('TUN device in a private namespace', () => {
  const devices: TunDevice[] = [];
  const open = async (opts: Parameters<typeof TunDevice.open>[0]) => {
    const d = await TunDevice.open(opts);
    devices.push(d);
    return d;
  };
  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  afterEach(() => devices.splice(0).forEach((d) => d.close()));

  test('opens non-blocking and close-on-exec, with the name, MTU and addresses asked for', async () => {
    const dev = await open({
      name: 'vpt%d',
      mtu: 1400,
      addresses: ['198.18.1.1/24', '2001:db8:1::1/64'],
    });
    expect(dev.name).toMatch(/^vpt\d+$/);
    expect(native.linkIndex(dev.name)).toBe(dev.ifindex);
    const info = await dev.linkInfo();
    expect(info).toMatchObject({ name: dev.name, mtu: 1400, up: true });
    const flags = parseInt(
      /flags:\s*(\d+)/.exec(fs.readFileSync(`/proc/self/fdinfo/${dev.fd}`, 'utf8'))![1],
      8,
    );
    expect(flags & 0o4000).toBe(0o4000); // O_NONBLOCK
    expect(flags & 0o2000000).toBe(0o2000000); // O_CLOEXEC
    const name = dev.name;
    dev.close();
    expect(() => native.linkIndex(name)).toThrow(/ENODEV|no interface/);
  });

  test('a taken name and a bad name are refused clearly', async () => {
    const dev = await open({ name: 'vptaken' });
    await expect(TunDevice.open({ name: dev.name })).rejects.toMatchObject({ code: 'EBUSY' });
    await expect(TunDevice.open({ name: 'a/b' })).rejects.toMatchObject({
      code: 'ERR_INVALID_INTERFACE_NAME',
    });
    await expect(TunDevice.open({ name: 'x'.repeat(16) })).rejects.toThrow(/longer than 15/);
  });

  test.each([
    ['IPv4', 'udp4', '198.18.2.1/24', '198.18.2.1', '198.18.2.2', 28, [0, 1, 100, 1472]],
    ['IPv6', 'udp6', '2001:db8:2::1/64', '2001:db8:2::1', '2001:db8:2::2', 48, [0, 1, 100, 1452]],
  ] as const)(
    'receives %s UDP byte for byte, up to the MTU',
    async (_v, type, cidr, local, remote, hdr, sizes) => {
      const dev = await open({ addresses: [cidr] });
      const sock = await udpSocket(type, local);
      try {
        const got = collectUdp(dev, 7001, sizes.length);
        for (const [i, n] of sizes.entries()) await send(sock, pattern(n, i), 7001, remote);
        const packets = await got;
        expect(packets.map((p) => p.length)).toEqual(sizes.map((n) => n + hdr));
        packets.forEach((p, i) => {
          expect(Buffer.compare(p.subarray(hdr), pattern(sizes[i], i))).toBe(0);
          if (type === 'udp4') {
            expect(Buffer.compare(p.subarray(16, 20), ip4(remote))).toBe(0);
          } else {
            expect(Buffer.compare(p.subarray(24, 40), ip6(remote))).toBe(0);
          }
        });
        const c = dev.counters();
        expect(c.rxPackets).toBeGreaterThanOrEqual(sizes.length);
        expect(c.rxBytes).toBeGreaterThanOrEqual(sizes.reduce<number>((a, n) => a + n + hdr, 0));
      } finally {
        sock.close();
      }
    },
  );

  test.each([
    ['IPv4', 'udp4', '198.18.3.1/24', '198.18.3.1', '198.18.3.2', [0, 1, 100, 1472]],
    ['IPv6', 'udp6', '2001:db8:3::1/64', '2001:db8:3::1', '2001:db8:3::2', [0, 1, 100, 1452]],
  ] as const)(
    'sends %s UDP into the system byte for byte',
    async (_v, type, cidr, local, remote, sizes) => {
      const dev = await open({ addresses: [cidr] });
      const sock = await udpSocket(type, local);
      try {
        const port = sock.address().port;
        const build = type === 'udp4' ? ipv4Udp : ipv6Udp;
        const packets = sizes.map((n, i) =>
          build({ src: remote, dst: local, dstPort: port, payload: pattern(n, i + 10) }),
        );
        const got = receive(sock, sizes.length);
        await dev.sendPackets(packets);
        const msgs = await got;
        expect(msgs.map((m) => m.length)).toEqual([...sizes]);
        msgs.forEach((m, i) => expect(Buffer.compare(m, pattern(sizes[i], i + 10))).toBe(0));
        expect(dev.counters()).toMatchObject({ txPackets: sizes.length, txBatches: 1 });
      } finally {
        sock.close();
      }
    },
  );

  test('65535-byte packets both ways with the MTU raised', async () => {
    const dev = await open({ mtu: 65535, addresses: ['198.18.4.1/24'] });
    const sock = await udpSocket('udp4', '198.18.4.1');
    try {
      const big = pattern(65535 - 28, 7);
      const got = collectUdp(dev, 7004, 1);
      await send(sock, big, 7004, '198.18.4.2');
      const [p] = await got;
      expect(p.length).toBe(65535);
      expect(Buffer.compare(p.subarray(28), big)).toBe(0);

      const port = sock.address().port;
      const back = receive(sock, 1);
      await dev.sendPacket(
        ipv4Udp({ src: '198.18.4.2', dst: '198.18.4.1', dstPort: port, payload: big }),
      );
      const [m] = await back;
      expect(m.length).toBe(big.length);
      expect(Buffer.compare(m, big)).toBe(0);
    } finally {
      sock.close();
    }
  });

  test('when JS does not read, the kernel queue drops, and the counters agree', async () => {
    // No IPv6 on the link: a router solicitation dropped from the same
    // queue would count among the drops (this namespace is the test's own).
    const dev = await open({ txQueueLen: 64, addresses: ['198.18.5.1/24'], up: false });
    fs.writeFileSync(`/proc/sys/net/ipv6/conf/${dev.name}/disable_ipv6`, '1');
    await dev.setLink({ up: true });
    const sock = await udpSocket('udp4', '198.18.5.1');
    try {
      const first = collectUdp(dev, 7005, 1);
      await send(sock, pattern(10, 0), 7005, '198.18.5.2');
      await first; // the listener is gone again: reading is paused
      const n = 300;
      for (let i = 0; i < n; i++) await send(sock, pattern(10, i), 7005, '198.18.5.2');
      const stats = await dev.stats();
      expect(stats.kernelDrops).toBeGreaterThanOrEqual(n - 64);
      const rest = collectUdp(dev, 7005, n - stats.kernelDrops);
      const got = await rest;
      expect(got.length).toBe(n - stats.kernelDrops);
      expect(got.length).toBeLessThanOrEqual(64);
    } finally {
      sock.close();
    }
  });

  test('closing while traffic flows stops delivery at once and removes the device', async () => {
    const dev = await open({ addresses: ['198.18.6.1/24'] });
    const sock = await udpSocket('udp4', '198.18.6.1');
    let calls = 0;
    let afterClose = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < 20; i++) sock.send(pattern(200, i), 7006, '198.18.6.2');
    }, 1);
    try {
      await new Promise<void>((resolve) =>
        dev.onPacketsReceived.addListener(() => {
          if (dev.closed) afterClose++;
          if (++calls === 5) {
            dev.close();
            resolve();
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 100));
      expect(afterClose).toBe(0);
      expect(() => native.linkIndex(dev.name)).toThrow();
    } finally {
      clearInterval(timer);
      sock.close();
    }
  });

  test('an interface deleted under the device gives one error and stops reading', async () => {
    const dev = await open({ addresses: ['198.18.7.1/24'] });
    const err = new Promise<Error & { code?: string }>((resolve) =>
      dev.onError.addListener(resolve),
    );
    dev.onPacketsReceived.addListener(() => {});
    await native.deleteLink({ ifindex: dev.ifindex });
    const e = await err;
    // The kernel says EBADFD (tun detached) on a read, or the poll says
    // POLLERR (EBADF) first while the interface is being unregistered.
    expect(['EBADFD', 'EBADF']).toContain(e.code);
    expect(e.message).toMatch(/(reading from|polling) the device failed/);
    expect(dev.counters().readErrors).toBe(1);
    await expect(
      dev.sendPacket(
        ipv4Udp({ src: '198.18.7.2', dst: '198.18.7.1', dstPort: 9, payload: pattern(4, 1) }),
      ),
    ).rejects.toBe(e);
  });

  test.each([['natural'], ['exit']])(
    'a process with an open, reading device exits at once (%s)',
    async (how) => {
      const r = await runChild(['tun', how]);
      expect(r.out).toContain('ready');
      expect(r.code).toBe(0);
      expect(r.ms).toBeLessThan(5000);
    },
  );

  test('works in worker_threads; terminating the worker closes its device', async () => {
    const worker = new Worker(path.join(__dirname, '../fixtures/worker.js'), {
      workerData: { address: '198.18.8.1/24', ref: true },
    });
    try {
      const ready = await new Promise<{ name: string; ifindex: number }>((resolve, reject) => {
        worker.once('error', reject);
        worker.on('message', (m) => {
          if (m.error) reject(new Error(m.error));
          if (m.ready) resolve(m);
        });
      });
      expect(native.linkIndex(ready.name)).toBe(ready.ifindex);
      const sock = await udpSocket('udp4', '198.18.8.1');
      const counted = new Promise<void>((resolve) =>
        worker.on('message', (m) => {
          if (m.packets >= 50) resolve();
        }),
      );
      for (let i = 0; i < 50; i++) await send(sock, pattern(100, i), 7008, '198.18.8.2');
      await counted;
      sock.close();
      await worker.terminate();
      expect(() => native.linkIndex(ready.name)).toThrow();
    } finally {
      await worker.terminate();
    }
  });

  test("a worker whose device is unref'd ends by itself, and its device goes with it", async () => {
    const worker = new Worker(path.join(__dirname, '../fixtures/worker.js'), {
      workerData: { address: '198.18.8.1/24', ref: false },
    });
    let name = '';
    worker.on('message', (m) => {
      if (m.ready) name = m.name;
    });
    const code = await new Promise<number>((resolve) => worker.once('exit', resolve));
    expect(code).toBe(0);
    expect(name).toMatch(/^tun\d+$/);
    expect(() => native.linkIndex(name)).toThrow(/ENODEV/);
  });
});
