// Building and checking IP packets in tests.
import { createHash } from 'node:crypto';

/** An IPv4 header + payload (checksum filled in), UDP if proto is 17. */
export function ipv4Udp(opts: {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort: number;
  payload: Uint8Array;
}): Uint8Array {
  const udpLen = 8 + opts.payload.length;
  const total = 20 + udpLen;
  const p = new Uint8Array(total);
  const dv = new DataView(p.buffer);
  p[0] = 0x45;
  dv.setUint16(2, total);
  dv.setUint16(4, 0x1234);
  p[8] = 64;
  p[9] = 17;
  p.set(ip4(opts.src), 12);
  p.set(ip4(opts.dst), 16);
  dv.setUint16(10, checksum(p.subarray(0, 20)));
  dv.setUint16(20, opts.srcPort ?? 40000);
  dv.setUint16(22, opts.dstPort);
  dv.setUint16(24, udpLen);
  p.set(opts.payload, 28);
  // UDP checksum over the pseudo-header.
  const pseudo = new Uint8Array(12 + udpLen);
  pseudo.set(p.subarray(12, 20), 0);
  pseudo[9] = 17;
  new DataView(pseudo.buffer).setUint16(10, udpLen);
  pseudo.set(p.subarray(20), 12);
  const c = checksum(pseudo);
  dv.setUint16(26, c === 0 ? 0xffff : c);
  return p;
}

/** An IPv6 header + UDP payload (checksum filled in). */
export function ipv6Udp(opts: {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort: number;
  payload: Uint8Array;
}): Uint8Array {
  const udpLen = 8 + opts.payload.length;
  const p = new Uint8Array(40 + udpLen);
  const dv = new DataView(p.buffer);
  p[0] = 0x60;
  dv.setUint16(4, udpLen);
  p[6] = 17;
  p[7] = 64;
  p.set(ip6(opts.src), 8);
  p.set(ip6(opts.dst), 24);
  dv.setUint16(40, opts.srcPort ?? 40000);
  dv.setUint16(42, opts.dstPort);
  dv.setUint16(44, udpLen);
  p.set(opts.payload, 48);
  const pseudo = new Uint8Array(40 + udpLen);
  pseudo.set(p.subarray(8, 40), 0);
  new DataView(pseudo.buffer).setUint32(32, udpLen);
  pseudo[39] = 17;
  pseudo.set(p.subarray(40), 40);
  const c = checksum(pseudo);
  dv.setUint16(46, c === 0 ? 0xffff : c);
  return p;
}

export function ip4(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}

export function ip6(s: string): Uint8Array {
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

export function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length & 1) sum += b[b.length - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

/** Deterministic pseudo-random bytes. */
export function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function digest(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A raw packet of `len` bytes whose first nibble is 4 (enough for a socketpair). */
export function fakeIp(len: number, seed: number): Uint8Array {
  const p = pattern(len, seed);
  p[0] = 0x45;
  return p;
}

/** Whether the TCP or UDP checksum of an IPv4 or IPv6 packet is right (RFC 768/793/8200). */
export function l4ChecksumValid(p: Uint8Array): boolean {
  const v6 = p[0] >> 4 === 6;
  const ipLen = v6 ? 40 : (p[0] & 15) * 4;
  const proto = v6 ? p[6] : p[9];
  const l4 = p.subarray(ipLen);
  if (!v6 && proto === 17 && l4[6] === 0 && l4[7] === 0) return true;
  const addrs = v6 ? p.subarray(8, 40) : p.subarray(12, 20);
  const pseudo = new Uint8Array(addrs.length + 4 + l4.length + (l4.length & 1));
  pseudo.set(addrs);
  pseudo[addrs.length + 1] = proto;
  pseudo[addrs.length + 2] = l4.length >> 8;
  pseudo[addrs.length + 3] = l4.length & 0xff;
  pseudo.set(l4, addrs.length + 4);
  return checksum(pseudo) === 0;
}
