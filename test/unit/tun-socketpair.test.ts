// The packet path over a SOCK_SEQPACKET socketpair, which keeps packet
// boundaries like a TUN fd: no privileges needed.
import { native } from '../../lib/native';
import { TunDevice, PacketBatch, ChromeEvent, type TunDeviceOptions } from '../../lib';
import { fakeIp } from '../helpers/packets';

function pair(opts: TunDeviceOptions = {}): [TunDevice, TunDevice] {
  const [a, b] = native.socketpair();
  return [TunDevice.fromFd(a, opts), TunDevice.fromFd(b, opts)];
}

function collect(dev: TunDevice, n: number): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  return new Promise((resolve) => {
    const l = (batch: PacketBatch) => {
      for (let i = 0; i < batch.count; i++) got.push(batch.packet(i).slice());
      if (got.length >= n) {
        dev.onPacketsReceived.removeListener(l);
        resolve(got);
      }
    };
    dev.onPacketsReceived.addListener(l);
  });
}

describe('TunDevice over a socketpair', () => {
  let devs: TunDevice[] = [];
  afterEach(() => {
    devs.forEach((d) => d.close());
    devs = [];
  });
  const open = (opts: TunDeviceOptions = {}) => {
    const p = pair(opts);
    devs.push(...p);
    return p;
  };

  test('a batch arrives byte for byte, in order, sizes 1..65535', async () => {
    const [a, b] = open();
    const sizes = [1, 20, 64, 1400, 1500, 9000, 65535];
    const sent = sizes.map((n, i) => fakeIp(n, i));
    const got = collect(b, sent.length);
    await a.sendPackets(sent);
    const recv = await got;
    expect(recv.map((p) => p.length)).toEqual(sizes);
    recv.forEach((p, i) => expect(Buffer.compare(p, sent[i])).toBe(0));
  });

  test('packets are views into one recycled slab, 8-byte aligned', async () => {
    const [a, b] = open({ batchSize: 16 });
    const offsets: number[] = [];
    const buffers = new Set<ArrayBuffer>();
    const done = new Promise<void>((resolve) => {
      let n = 0;
      b.onPacketsReceived.addListener((batch) => {
        for (let i = 0; i < batch.count; i++) {
          const v = batch.packet(i);
          buffers.add(v.buffer as ArrayBuffer);
          offsets.push(v.byteOffset);
        }
        n += batch.count;
        if (n === 40) resolve();
      });
    });
    await a.sendPackets(Array.from({ length: 40 }, (_, i) => fakeIp(37 + i, i)));
    await done;
    expect(buffers.size).toBe(1);
    expect(offsets.every((o) => o % 8 === 0)).toBe(true);
    const c = b.counters();
    expect(c.rxPackets).toBe(40);
    expect(c.rxBatches).toBeGreaterThanOrEqual(3); // at most 16 a batch
    expect(c.meanBatch).toBeLessThanOrEqual(16);
  });

  test('a batch is invalid after its listener returns', async () => {
    const [a, b] = open();
    let kept: PacketBatch | null = null;
    const got = new Promise<void>((resolve) =>
      b.onPacketsReceived.addListener((batch) => {
        kept = batch;
        expect(batch.count).toBe(1);
        resolve();
      }),
    );
    await a.sendPacket(fakeIp(100, 1));
    await got;
    expect(kept!.count).toBe(0);
    expect(() => kept!.packet(0)).toThrow(/no longer valid/);
  });

  test('onPacketReceived gets each packet in its own ArrayBuffer', async () => {
    const [a, b] = open();
    const sent = [fakeIp(60, 1), fakeIp(61, 2), fakeIp(62, 3)];
    const got: ArrayBuffer[] = [];
    const done = new Promise<void>((resolve) =>
      b.onPacketReceived.addListener((ab) => {
        got.push(ab);
        if (got.length === 3) resolve();
      }),
    );
    await a.sendPackets(sent);
    await done;
    got.forEach((ab, i) => {
      expect(ab).toBeInstanceOf(ArrayBuffer);
      expect(ab.byteLength).toBe(sent[i].length);
      expect(Buffer.compare(new Uint8Array(ab), sent[i])).toBe(0);
    });
    expect(new Set(got).size).toBe(3);
  });

  test('bad packets are refused with clear errors and nothing is written', async () => {
    const [a, b] = open();
    const seen: number[] = [];
    b.onPacketsReceived.addListener((batch) => seen.push(batch.count));
    await expect(a.sendPacket(new ArrayBuffer(0))).rejects.toThrow("Can't send an empty packet.");
    await expect(a.sendPacket(new Uint8Array(65536).fill(0x45))).rejects.toMatchObject({
      name: 'RangeError',
      code: 'ERR_PACKET_TOO_LARGE',
    });
    await expect(a.sendPacket(Uint8Array.of(0x15, 0, 0))).rejects.toMatchObject({
      code: 'ERR_NOT_IP_PACKET',
    });
    await expect(a.sendPacket('hello' as unknown as ArrayBuffer)).rejects.toMatchObject({
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
    });
    await expect(a.sendPackets('x' as unknown as ArrayBuffer[])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    });
    const detached = new ArrayBuffer(40);
    structuredClone(detached, { transfer: [detached] });
    await expect(a.sendPacket(detached)).rejects.toMatchObject({ code: 'ERR_BUFFER_DETACHED' });
    // One bad packet in the middle: none of the batch is written.
    await expect(
      a.sendPackets([fakeIp(50, 1), new Uint8Array(0), fakeIp(50, 2)]),
    ).rejects.toMatchObject({ code: 'ERR_EMPTY_PACKET', index: 1 });
    expect(a.counters().txPackets).toBe(0);
    // The link still works afterwards.
    await a.sendPacket(fakeIp(30, 3));
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([1]);
  });

  test('views at an offset, DataViews and SharedArrayBuffers send the right bytes', async () => {
    const [a, b] = open();
    const big = fakeIp(300, 9);
    const sab = new SharedArrayBuffer(64);
    new Uint8Array(sab).set(fakeIp(64, 4));
    const sent = [big.subarray(100, 180), new DataView(big.buffer, 10, 50), new Uint8Array(sab)];
    (sent[0] as Uint8Array)[0] = 0x60;
    new Uint8Array(big.buffer, 10, 1)[0] = 0x45;
    const got = collect(b, 3);
    await a.sendPackets(sent);
    const recv = await got;
    expect(Buffer.compare(recv[0], big.subarray(100, 180))).toBe(0);
    expect(Buffer.compare(recv[1], new Uint8Array(big.buffer, 10, 50))).toBe(0);
    expect(Buffer.compare(recv[2], new Uint8Array(sab))).toBe(0);
  });

  test('EAGAIN: sends wait for the fd to drain, keep order, and lose nothing', async () => {
    const [a, b] = open();
    const n = 3000;
    const packets = Array.from({ length: n }, (_, i) => {
      const p = fakeIp(1000, i);
      new DataView(p.buffer).setUint32(4, i);
      return p;
    });
    // Nobody reads b yet: the socket buffer fills and the kernel says EAGAIN.
    const first = a.sendPackets(packets.slice(0, n / 2));
    const second = a.sendPackets(packets.slice(n / 2));
    expect(a.counters().txEagain).toBeGreaterThan(0);
    const got = collect(b, n);
    await Promise.all([first, second]);
    const recv = await got;
    expect(recv.map((p) => new DataView(p.buffer).getUint32(4))).toEqual(packets.map((_, i) => i));
    expect(a.counters().txPackets).toBe(n);
  });

  test('a throwing listener does not stop the others or the device', async () => {
    const [a, b] = open();
    const errors: unknown[] = [];
    const saved = ChromeEvent.onListenerError;
    ChromeEvent.onListenerError = (_name, err) => errors.push(err);
    try {
      b.onPacketsReceived.addListener(() => {
        throw new Error('boom');
      });
      const got = collect(b, 2);
      await a.sendPacket(fakeIp(40, 1));
      await a.sendPacket(fakeIp(40, 2));
      expect((await got).length).toBe(2);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect((errors[0] as Error).message).toBe('boom');
    } finally {
      ChromeEvent.onListenerError = saved;
    }
  });

  test('a read failure (peer gone) reports an error once and stops reading', async () => {
    const [a, b] = open();
    const err = new Promise<Error>((resolve) => b.onError.addListener(resolve));
    b.onPacketsReceived.addListener(() => {});
    a.close();
    const e = (await err) as Error & { code: string; syscall: string };
    expect(e.code).toBe('EPIPE');
    expect(e.syscall).toBe('read');
    expect(b.counters().readErrors).toBe(1);
    await expect(b.sendPacket(fakeIp(20, 1))).rejects.toMatchObject({ code: 'EPIPE' });
  });

  test('close is idempotent, frees the fd, and rejects later sends', async () => {
    const [a] = open();
    const fd = a.fd;
    expect(fd).toBeGreaterThan(2);
    a.close();
    a.close();
    expect(a.closed).toBe(true);
    expect(a.fd).toBe(-1);
    await expect(a.sendPacket(fakeIp(20, 1))).rejects.toMatchObject({ code: 'ERR_DEVICE_CLOSED' });
    expect(() => native.closeFd(fd)).toThrow(/EBADF/);
  });

  test('counters survive close', async () => {
    const [a, b] = open();
    const got = collect(b, 5);
    await a.sendPackets(Array.from({ length: 5 }, (_, i) => fakeIp(100, i)));
    await got;
    a.close();
    b.close();
    expect(a.counters()).toMatchObject({ txPackets: 5, txBytes: 500, txBatches: 1 });
    expect(b.counters()).toMatchObject({ rxPackets: 5, rxBytes: 500 });
  });

  test('removing the last listener pauses reading: packets wait in the kernel', async () => {
    const [a, b] = open();
    const first = collect(b, 1);
    await a.sendPacket(fakeIp(40, 1));
    await first; // collect removed its listener: reading paused
    await a.sendPackets([fakeIp(41, 2), fakeIp(42, 3)]);
    await new Promise((r) => setTimeout(r, 30));
    expect(b.counters().rxPackets).toBe(1);
    const rest = await collect(b, 2);
    expect(rest.map((p) => p.length)).toEqual([41, 42]);
  });

  test('option checks', () => {
    const [x, y] = native.socketpair();
    expect(() => TunDevice.fromFd(x, { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => TunDevice.fromFd(y, { slabSize: 1000 })).toThrow(/slabSize/);
    // The fds were closed on failure.
    expect(() => native.closeFd(x)).toThrow(/EBADF/);
    expect(() => native.closeFd(y)).toThrow(/EBADF/);
  });
});
