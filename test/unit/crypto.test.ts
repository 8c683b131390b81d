// AeadKey and ReplayWindow: batches sealed in place must open with Node's
// own crypto (and the other way round), every bad packet gets its verdict
// and is dropped while the rest of the batch goes through, and the replay
// window refuses what it saw or what is too old.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

import { AeadKey, ReplayWindow, Verdict } from '../../lib';

function nonce(counter: bigint): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(counter, 4);
  return n;
}

type Alg = 'chacha20-poly1305' | 'aes-256-gcm';

function nodeSeal(alg: Alg, key: Uint8Array, counter: bigint, plain: Uint8Array): Buffer {
  const c = createCipheriv(alg as 'chacha20-poly1305', key, nonce(counter), { authTagLength: 16 });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

function nodeOpen(alg: Alg, key: Uint8Array, counter: bigint, sealed: Uint8Array): Buffer {
  const d = createDecipheriv(alg as 'chacha20-poly1305', key, nonce(counter), {
    authTagLength: 16,
  });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}

// A PacketBatch-shaped batch: packets of the given sizes with 16 bytes of
// headroom and `tail` of tailroom each.
function packetBatch(sizes: number[], tail = 32) {
  const data = new Uint8Array(sizes.reduce((a, n) => a + n + 16 + tail, 0));
  const meta = new Int32Array(2 * sizes.length);
  let at = 0;
  sizes.forEach((n, i) => {
    meta[2 * i] = at + 16;
    meta[2 * i + 1] = n;
    data.set(randomBytes(n), at + 16);
    at += n + 16 + tail;
  });
  return { data, meta, count: sizes.length, tailroom: tail };
}

// A DatagramBatch-shaped batch (stride 3) of WireGuard-like datagrams:
// 8 bytes of type and index, the counter, then the sealed packet.
function datagramBatch(datagrams: Uint8Array[]) {
  const data = new Uint8Array(datagrams.reduce((a, d) => a + d.length + 5, 0));
  const meta = new Int32Array(3 * datagrams.length);
  let at = 3;
  datagrams.forEach((d, i) => {
    data.set(d, at);
    meta.set([at, d.length, 0], 3 * i);
    at += d.length + 5;
  });
  return { data, meta, stride: 3, count: datagrams.length };
}

function datagram(alg: Alg, key: Uint8Array, counter: bigint, plain: Uint8Array): Uint8Array {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(4, 0);
  head.writeBigUInt64LE(counter, 8);
  return Buffer.concat([head, nodeSeal(alg, key, counter, plain)]);
}

function ipv4(total: number): Uint8Array {
  const p = randomBytes(total);
  p[0] = 0x45;
  p.writeUInt16BE(total, 2);
  return p;
}

describe.each<Alg>(['chacha20-poly1305', 'aes-256-gcm'])('AeadKey %s', (alg) => {
  test('seal: each packet opens with node:crypto at its counter, padded, counter in the header', () => {
    const key = randomBytes(32);
    const k = new AeadKey(alg, key, { next: 7n });
    const sizes = [1, 100, 1420, 16, 0];
    const b = packetBatch(sizes);
    const plain = sizes.map((n, i) =>
      Buffer.from(b.data.subarray(b.meta[2 * i], b.meta[2 * i] + n)),
    );
    const verdicts = new Uint8Array(b.count).fill(99);
    const counters = new BigUint64Array(b.count);
    expect(k.seal(b, { counterAt: -8, pad: 16, verdicts, counters })).toBe(5);
    expect([...verdicts]).toEqual([0, 0, 0, 0, 0]);
    expect([...counters]).toEqual([7n, 8n, 9n, 10n, 11n]);
    expect(k.nextCounter).toBe(12n);
    sizes.forEach((n, i) => {
      const off = b.meta[2 * i];
      const len = b.meta[2 * i + 1];
      expect(len).toBe(Math.ceil(n / 16) * 16 + 16);
      expect(Buffer.from(b.data.buffer, off - 8, 8).readBigUInt64LE()).toBe(counters[i]);
      const opened = nodeOpen(alg, key, counters[i], b.data.subarray(off, off + len));
      expect(opened.subarray(0, n).equals(plain[i])).toBe(true);
      expect(opened.subarray(n).every((x) => x === 0)).toBe(true);
    });
    k.close();
  });

  test('open: datagrams sealed by node:crypto open in place, offset past the header', () => {
    const key = randomBytes(32);
    const plains = [ipv4(60), ipv4(1420), ipv4(20)];
    const b = datagramBatch(plains.map((p, i) => datagram(alg, key, BigInt(100 - i), p)));
    const k = new AeadKey(alg, key);
    const verdicts = new Uint8Array(b.count);
    const counters = new BigUint64Array(b.count);
    const replay = new ReplayWindow();
    expect(k.open(b, { counterAt: 8, skip: 16, replay, verdicts, counters, trimToIp: true })).toBe(
      3,
    );
    expect([...verdicts]).toEqual([0, 0, 0]);
    expect([...counters]).toEqual([100n, 99n, 98n]);
    expect(replay.last).toBe(100n);
    plains.forEach((p, i) => {
      const off = b.meta[3 * i];
      expect(
        Buffer.from(b.data.subarray(off, off + b.meta[3 * i + 1])).equals(Buffer.from(p)),
      ).toBe(true);
    });
  });

  test('a forged, a short, a replayed and a wrong-key packet each get a verdict; the rest open', () => {
    const key = randomBytes(32);
    const good = ipv4(100);
    const forged = datagram(alg, key, 2n, ipv4(100));
    forged[40] ^= 1;
    const b = datagramBatch([
      datagram(alg, key, 1n, good),
      forged,
      new Uint8Array(20), // shorter than header + tag
      datagram(alg, key, 1n, good), // replay of the first
      datagram(alg, randomBytes(32), 3n, ipv4(100)),
      datagram(alg, key, 4n, new Uint8Array(0)), // a keepalive
      datagram(alg, key, 5n, randomBytes(40)), // not IP
      datagram(alg, key, 6n, good),
    ]);
    const k = new AeadKey(alg, key);
    const verdicts = new Uint8Array(b.count);
    const replay = new ReplayWindow();
    expect(k.open(b, { counterAt: 8, skip: 16, replay, verdicts, trimToIp: true })).toBe(2);
    expect([...verdicts]).toEqual([
      Verdict.ok,
      Verdict.auth,
      Verdict.short,
      Verdict.replay,
      Verdict.auth,
      Verdict.empty,
      Verdict.notIp,
      Verdict.ok,
    ]);
    const lengths = [...Array(b.count).keys()].map((i) => b.meta[3 * i + 1]);
    expect(lengths).toEqual([100, -1, -1, -1, -1, -1, -1, 100]);
    // A forged packet does not advance the window: its counter still opens.
    expect(replay.check(2n)).toBe(true);
    expect(replay.check(4n)).toBe(false); // the keepalive authenticated
  });

  test('seal refuses what has no room and a counter at the limit, per packet', () => {
    const k = new AeadKey(alg, randomBytes(32), { next: 10n, limit: 12n });
    const b = packetBatch([50, 50, 50, 50], 16);
    const verdicts = new Uint8Array(b.count);
    // pad 64: 50 -> 64 needs 14 + 16 bytes after the packet, the batch keeps 16.
    expect(k.seal(b, { pad: 64, verdicts, entries: Int32Array.of(0) })).toBe(0);
    expect(verdicts[0]).toBe(Verdict.noRoom);
    expect(b.meta[1]).toBe(-1);
    expect(k.seal(b, { verdicts, entries: Int32Array.of(1, 2, 3) })).toBe(2);
    expect([...verdicts.subarray(1)]).toEqual([Verdict.ok, Verdict.ok, Verdict.limit]);
    expect(k.seal(b, { verdicts })).toBe(0);
    expect(verdicts[0]).toBe(Verdict.skipped);
  });

  test('bad arguments throw before anything is touched', () => {
    expect(() => new AeadKey(alg, new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'ERR_CRYPTO_INVALID_KEYLEN' }),
    );
    const k = new AeadKey(alg, randomBytes(32));
    const b = packetBatch([10, 10]);
    const before = Buffer.from(b.data);
    expect(() => k.seal(b, { entries: Int32Array.of(0, 2) })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => k.seal(b, { verdicts: new Uint8Array(1) })).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => k.open(b)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(Buffer.from(b.data).equals(before)).toBe(true);
    k.close();
    expect(() => k.seal(b)).toThrow(expect.objectContaining({ code: 'ERR_KEY_CLOSED' }));
  });
});

describe('ReplayWindow', () => {
  test('accepts each counter once, out of order inside the window, none too old', () => {
    const w = new ReplayWindow();
    expect(w.last).toBeNull();
    for (const c of [5n, 3n, 4n, 0n, 1000n, 6n]) {
      expect(w.check(c)).toBe(true);
      w.update(c);
      expect(w.check(c)).toBe(false);
    }
    expect(w.last).toBe(1000n);
    expect(w.check(2n)).toBe(true);
    const top = 1000n + BigInt(ReplayWindow.size);
    w.update(top);
    expect(w.check(1000n)).toBe(false); // seen
    expect(w.check(top - BigInt(ReplayWindow.size))).toBe(false); // too old
    expect(w.check(top - BigInt(ReplayWindow.size) + 1n)).toBe(true);
    // A jump far ahead forgets the old bits rather than aliasing them:
    // 10^12 - 3096 shares its ring bit with 1000 (both 1000 mod 8192).
    w.update(10n ** 12n);
    expect(w.check(10n ** 12n - 3096n)).toBe(true);
    expect(w.check(10n ** 12n - BigInt(ReplayWindow.size))).toBe(false); // too old
    expect(w.check(10n ** 12n - 1n)).toBe(true);
    w.reset();
    expect(w.check(5n)).toBe(true);
  });

  test('the ring does not alias: every counter of a long run is refused once seen', () => {
    const w = new ReplayWindow();
    for (let c = 0n; c < 20000n; c += 3n) w.update(c);
    let wrong = 0;
    for (let c = 20000n - 8000n; c < 20000n; c++) if (w.check(c) !== (c % 3n !== 0n)) wrong++;
    expect(wrong).toBe(0);
  });
});
