#!/usr/bin/env node
'use strict';
// Structured seeds for the libFuzzer targets of native/fuzz: inputs in each
// target's own format that reach its deep checks from the first execution
// (a random byte string almost never is a run of same-flow packets with
// valid checksums). scripts/fuzz.js writes them to build-fuzz/seeds/<target>/
// before every run; what they add to coverage is merged into the corpus kept
// in test/fuzz/<target>/.
//
//   node scripts/fuzz-seeds.js OUT_DIR [target ...]
//
// Checksums and headers are computed here, independently of the C++ under
// test. Everything is deterministic (no randomness): the same seeds every run.
const fs = require('node:fs');
const path = require('node:path');

// ------------------------------------------------------------- packets

function sum16(bytes, sum = 0) {
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length & 1) sum += bytes[bytes.length - 1] << 8;
  return sum;
}
function fold(sum) {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}
const be16 = (b, at, v) => {
  b[at] = (v >> 8) & 255;
  b[at + 1] = v & 255;
};
const be32 = (b, at, v) => {
  be16(b, at, Math.floor(v / 0x10000) & 0xffff);
  be16(b, at + 2, v & 0xffff);
};

const ADDR = {
  4: [
    [198, 18, 1, 1],
    [198, 18, 2, 2],
  ],
  6: [
    [0x20, 0x01, 0x0d, 0xb8, 0, 1, ...Array(9).fill(0), 1],
    [0x20, 0x01, 0x0d, 0xb8, 0, 2, ...Array(9).fill(0), 2],
  ],
};

/**
 * One IPv4 or IPv6 TCP/UDP packet with right lengths and checksums.
 * o: { v6, proto (6|17), src, dst, sport, dport, seq, ack, flags, window,
 *      options (TCP, bytes), payload, id, ttl, tos, df, ipOptions (IPv4),
 *      udpChecksumZero (IPv4 UDP "no checksum") }
 */
function packet(o) {
  const v6 = !!o.v6;
  const proto = o.proto ?? 6;
  const ipOpts = v6 ? [] : (o.ipOptions ?? []);
  const ipLen = v6 ? 40 : 20 + ipOpts.length;
  const tcpOpts = o.options ?? [];
  const l4Len = proto === 6 ? 20 + tcpOpts.length : proto === 17 ? 8 : 0;
  const payload = o.payload ?? [];
  const total = ipLen + l4Len + payload.length;
  const b = new Uint8Array(total);
  const src = o.src ?? ADDR[v6 ? 6 : 4][0];
  const dst = o.dst ?? ADDR[v6 ? 6 : 4][1];
  if (v6) {
    b[0] = 0x60 | ((o.tos ?? 0) >> 4);
    b[1] = ((o.tos ?? 0) & 15) << 4;
    be16(b, 4, total - 40);
    b[6] = proto;
    b[7] = o.ttl ?? 64;
    b.set(src, 8);
    b.set(dst, 24);
  } else {
    b[0] = 0x40 | (ipLen / 4);
    b[1] = o.tos ?? 0;
    be16(b, 2, total);
    be16(b, 4, o.id ?? 0x1000);
    b[6] = o.df === false ? 0 : 0x40;
    b[8] = o.ttl ?? 64;
    b[9] = proto;
    b.set(src, 12);
    b.set(dst, 16);
    b.set(ipOpts, 20);
    be16(b, 10, ~fold(sum16(b.subarray(0, ipLen))) & 0xffff);
  }
  const l4 = b.subarray(ipLen);
  if (proto === 6) {
    be16(l4, 0, o.sport ?? 40000);
    be16(l4, 2, o.dport ?? 5201);
    be32(l4, 4, (o.seq ?? 1000) >>> 0);
    be32(l4, 8, (o.ack ?? 5000) >>> 0);
    l4[12] = (l4Len / 4) << 4;
    l4[13] = o.flags ?? 0x10;
    be16(l4, 14, o.window ?? 502);
    l4.set(tcpOpts, 20);
  } else if (proto === 17) {
    be16(l4, 0, o.sport ?? 40000);
    be16(l4, 2, o.dport ?? 5300);
    be16(l4, 4, l4.length);
  }
  l4.set(payload, l4Len);
  if (proto === 6 || proto === 17) {
    const pseudo = v6
      ? [...src, ...dst, 0, 0, (l4.length >> 8) & 255, l4.length & 255, 0, 0, 0, proto]
      : [...src, ...dst, 0, proto, (l4.length >> 8) & 255, l4.length & 255];
    const field = proto === 6 ? 16 : 6;
    if (!(proto === 17 && !v6 && o.udpChecksumZero)) {
      let c = ~fold(sum16(l4, sum16(pseudo))) & 0xffff;
      if (c === 0 && proto === 17) c = 0xffff;
      be16(l4, field, c);
    }
  }
  return b;
}

function bytes(n, seed) {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 7;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

// TCP timestamps (NOP, NOP, TS): 12 bytes of options, as Linux sends.
const TS = (v) => [
  1,
  1,
  8,
  10,
  (v >>> 24) & 255,
  (v >>> 16) & 255,
  (v >>> 8) & 255,
  v & 255,
  0,
  0,
  0,
  1,
];

/** n same-flow TCP segments of `size` bytes of payload (the last `last`). */
function tcpRun(v6, n, size, opt = {}) {
  const out = [];
  let seq = opt.seq ?? 1000;
  for (let i = 0; i < n; i++) {
    const len = i === n - 1 && opt.last !== undefined ? opt.last : size;
    out.push({
      v6,
      proto: 6,
      seq,
      flags: i === n - 1 && opt.psh ? 0x18 : 0x10,
      options: opt.ts ? TS(7) : [],
      id: 0x1000 + i,
      payload: bytes(len, i + 1),
    });
    seq += len;
  }
  return out;
}

/** n same-flow UDP datagrams of `size` bytes (the last `last`). */
function udpRun(v6, n, size, opt = {}) {
  return Array.from({ length: n }, (_, i) => ({
    v6,
    proto: 17,
    id: 0x2000 + i,
    udpChecksumZero: opt.zero,
    payload: bytes(i === n - 1 && opt.last !== undefined ? opt.last : size, 100 + i),
  }));
}

/** The offload target's list form: [mode][offloads][count][lengths][packets]. */
function plan(pkts, { mode = 0, offloads = 0x67 } = {}) {
  const built = pkts.map((p) => (p instanceof Uint8Array ? p : packet(p)));
  const head = [mode, offloads, built.length - 1];
  for (const p of built) head.push((p.length >> 8) & 255, p.length & 255);
  return Buffer.concat([Buffer.from(head), ...built.map((p) => Buffer.from(p))]);
}

/** A virtio-net header (little-endian fields) before a packet. */
function vnet(pkt, h) {
  const b = Buffer.alloc(10);
  b[0] = h.flags ?? 0;
  b[1] = h.gso ?? 0;
  b.writeUInt16LE(h.hdrLen ?? 0, 2);
  b.writeUInt16LE(h.size ?? 0, 4);
  b.writeUInt16LE(h.csumStart ?? 0, 6);
  b.writeUInt16LE(h.csumOffset ?? 0, 8);
  return Buffer.concat([b, Buffer.from(pkt)]);
}

function offloadSeeds() {
  const seeds = {};
  const at = (runs, i, change) => runs.map((p, k) => (k === i ? { ...p, ...change } : p));
  for (const v6 of [false, true]) {
    const f = v6 ? '6' : '4';
    // Runs that coalesce whole.
    seeds[`tcp${f}-run`] = plan(tcpRun(v6, 8, 1400));
    seeds[`tcp${f}-run-ts-psh-short`] = plan(
      tcpRun(v6, 5, 1388, { ts: true, psh: true, last: 300 }),
    );
    seeds[`tcp${f}-run-fixup`] = plan(tcpRun(v6, 4, 1000), { mode: 1 });
    seeds[`tcp${f}-run-64`] = plan(tcpRun(v6, 70, 100)); // past kMaxCoalesce
    seeds[`tcp${f}-run-64k`] = plan(tcpRun(v6, 50, 1400)); // past 65535 bytes
    seeds[`udp${f}-run`] = plan(udpRun(v6, 8, 1200, { last: 500 }));
    seeds[`udp${f}-run-fixup-keep-len`] = plan(udpRun(v6, 4, 800), { mode: 3 });
    // The variations that stop a run.
    const tcp = tcpRun(v6, 6, 1000);
    seeds[`tcp${f}-other-flow`] = plan(at(tcp, 3, { sport: 40001 }));
    seeds[`tcp${f}-other-ack`] = plan(at(tcp, 2, { ack: 5001 }));
    seeds[`tcp${f}-seq-gap`] = plan(at(tcp, 3, { seq: 1000 + 3 * 1000 + 1 }));
    seeds[`tcp${f}-psh-mid`] = plan(at(tcp, 2, { flags: 0x18 }));
    seeds[`tcp${f}-fin-mid`] = plan(at(tcp, 2, { flags: 0x11 }));
    seeds[`tcp${f}-syn-first`] = plan(at(tcp, 0, { flags: 0x12 }));
    seeds[`tcp${f}-window-change`] = plan(at(tcp, 4, { window: 600 }));
    seeds[`tcp${f}-ttl-change`] = plan(at(tcp, 2, { ttl: 63 }));
    seeds[`tcp${f}-tos-change`] = plan(at(tcp, 2, { tos: 0x10 }));
    seeds[`tcp${f}-longer-mid`] = plan(at(tcp, 2, { payload: bytes(1200, 3) }));
    seeds[`tcp${f}-short-mid`] = plan(at(tcp, 2, { payload: bytes(200, 3) }));
    seeds[`tcp${f}-options-differ`] = plan(
      tcpRun(v6, 4, 1000, { ts: true }).map((p, k) => (k === 2 ? { ...p, options: TS(8) } : p)),
    );
    const badSum = tcp.map(packet);
    badSum[3][badSum[3].length - 1] ^= 0x55;
    seeds[`tcp${f}-bad-checksum`] = plan(badSum);
    const badFirst = tcp.map(packet);
    badFirst[0][badFirst[0].length - 1] ^= 0x55;
    seeds[`tcp${f}-bad-checksum-first`] = plan(badFirst);
    seeds[`tcp${f}-no-tso`] = plan(tcp, { offloads: v6 ? 0x63 : 0x65 });
    seeds[`tcp${f}-no-csum`] = plan(tcp, { offloads: 0x66 });
    const udp = udpRun(v6, 6, 1000);
    seeds[`udp${f}-other-port`] = plan(at(udp, 3, { dport: 5301 }));
    seeds[`udp${f}-longer-mid`] = plan(at(udp, 2, { payload: bytes(1100, 9) }));
    seeds[`udp${f}-short-mid`] = plan(at(udp, 2, { payload: bytes(100, 9) }));
    seeds[`udp${f}-no-uso`] = plan(udp, { offloads: 0x07 });
    const badUdp = udp.map(packet);
    badUdp[4][badUdp[4].length - 1] ^= 1;
    seeds[`udp${f}-bad-checksum`] = plan(badUdp);
    const badLen = udp.map(packet);
    be16(badLen[2], (v6 ? 40 : 20) + 4, 500); // UDP length not the datagram's
    seeds[`udp${f}-bad-udp-length`] = plan(badLen);
    seeds[`mixed${f}-tcp-then-udp`] = plan([...tcpRun(v6, 3, 1000), ...udpRun(v6, 3, 1000)]);
    const truncated = tcpRun(v6, 3, 1000).map(packet);
    truncated[1] = truncated[1].subarray(0, 50);
    seeds[`tcp${f}-truncated-mid`] = plan(truncated);
    // Super-packets with a virtio-net header (Segment, CheckVnetPacket).
    const ipLen = v6 ? 40 : 20;
    const tcpSuper = packet({ v6, proto: 6, payload: bytes(5000, 1), flags: 0x19 });
    seeds[`vnet-tcp${f}`] = vnet(tcpSuper, {
      flags: 1,
      gso: v6 ? 4 : 1,
      hdrLen: ipLen + 20,
      size: 1448,
      csumStart: ipLen,
      csumOffset: 16,
    });
    seeds[`vnet-tcp${f}-ecn-cwr`] = vnet(
      packet({ v6, proto: 6, payload: bytes(3000, 2), flags: 0x90 }),
      {
        flags: 1,
        gso: (v6 ? 4 : 1) | 0x80,
        hdrLen: ipLen + 20,
        size: 1000,
        csumStart: ipLen,
        csumOffset: 16,
      },
    );
    seeds[`vnet-udp${f}`] = vnet(packet({ v6, proto: 17, payload: bytes(4000, 3) }), {
      flags: 1,
      gso: 5,
      hdrLen: ipLen + 8,
      size: 1200,
      csumStart: ipLen,
      csumOffset: 6,
    });
    seeds[`vnet-csum-only${f}`] = vnet(packet({ v6, proto: 17, payload: bytes(300, 4) }), {
      flags: 1,
      csumStart: ipLen,
      csumOffset: 6,
    });
    seeds[`vnet-gso-wrong-type${f}`] = vnet(packet({ v6, proto: 17, payload: bytes(300, 5) }), {
      flags: 1,
      gso: 1,
      size: 100,
      csumStart: ipLen,
      csumOffset: 16,
    });
  }
  seeds['tcp4-ip-options'] = plan(
    tcpRun(false, 3, 1000).map((p) => ({ ...p, ipOptions: [1, 1, 1, 0] })),
  );
  seeds['tcp4-fragment'] = plan(tcpRun(false, 3, 1000).map((p) => ({ ...p, df: false })));
  seeds['udp4-zero-checksum'] = plan(udpRun(false, 4, 1000, { zero: true }));
  seeds['v4-then-v6'] = plan([...tcpRun(false, 2, 1000), ...tcpRun(true, 2, 1000)]);
  seeds['icmp'] = plan([
    packet({ proto: 1, payload: bytes(56, 1) }),
    packet({ proto: 1, payload: bytes(56, 2) }),
  ]);
  seeds['vnet-empty'] = Buffer.alloc(10);
  return seeds;
}

// ------------------------------------------------------------- classify

function classifySeeds() {
  const seeds = {};
  // The length byte: 12 + byte % 21 (IPv4) or % 117 (IPv6) bits. The value
  // byte's top bit says IPv6.
  const lenByte = (len) => {
    if (len < 12) throw new Error(`/${len}: the target takes prefixes from /12`);
    return len - 12;
  };
  const route4 = (addr, len, v) => [lenByte(len), v & 0x7f, ...addr, ...Array(12).fill(0)];
  const route6 = (addr, len, v) => [lenByte(len), 0x80 | (v & 0x7f), ...addr];
  const make = (flags, routes, pkts, extraPairs = []) => {
    const buf = [];
    const pairs = [];
    for (const p of pkts) {
      pairs.push([buf.length, Math.min(p.length, 63)]);
      buf.push(...p);
    }
    pairs.push(...extraPairs);
    const head = [flags | routes.length, ...routes.flat(), pairs.length - 1];
    for (const [off, len] of pairs) head.push((off >> 8) & 255, off & 255, len);
    return Buffer.from([...head, ...buf]);
  };
  const v4 = (dst) => packet({ proto: 17, dst, payload: bytes(8, dst[3]) });
  const v6 = (dst) => packet({ v6: true, proto: 17, dst, payload: bytes(8, dst[15]) });
  const a6 = (...tail) => [0x20, 0x01, 0x0d, 0xb8, ...tail, ...Array(12 - tail.length).fill(0)];
  const routes = [
    route4([198, 0, 0, 0], 12, 0),
    route4([198, 18, 0, 0], 15, 1),
    route4([198, 18, 7, 0], 24, 0),
    route4([198, 18, 7, 128], 25, 1),
    route4([203, 0, 113, 9], 32, 2),
    route6(a6(), 32, 1),
    route6(a6(0, 1), 48, 0),
    route6(a6(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 128, 3),
  ];
  const pkts = [
    v4([198, 18, 7, 1]),
    v4([198, 18, 7, 200]),
    v4([203, 0, 113, 9]),
    v4([192, 0, 2, 1]),
    v6(a6(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)),
    v6(a6(0, 2)),
    v6([0xfe, 0x80, ...Array(14).fill(0)]),
  ];
  seeds['mixed'] = make(0, routes, pkts);
  seeds['mixed-jump-nodes'] = make(0x20, routes, pkts);
  // Pairs outside the buffer: refused (0x40 clamps them instead).
  seeds['out-of-range'] = make(0, routes.slice(0, 3), pkts.slice(0, 2), [[9999, 40]]);
  seeds['clamped'] = make(0x40, routes.slice(0, 3), pkts.slice(0, 2), [[9999, 40]]);
  seeds['short-and-not-ip'] = make(0, routes.slice(0, 2), [
    Array(10).fill(0x45),
    Array(30).fill(0x99),
    v6(a6()).slice(0, 39),
  ]);
  // Many IPv6 prefixes under one /16, where the Poptrie makes jump nodes.
  const many6 = Array.from({ length: 31 }, (_, i) => route6(a6(0, i, i * 7), 48 + (i % 40), i));
  seeds['many-v6'] = make(
    0x20,
    many6,
    Array.from({ length: 16 }, (_, i) => v6(a6(0, i, i * 7, 1))),
  );
  const many4 = Array.from({ length: 31 }, (_, i) => route4([198, 18, i, i * 8], 16 + (i % 17), i));
  seeds['many-v4'] = make(
    0,
    many4,
    Array.from({ length: 16 }, (_, i) => v4([198, 18, i, i * 8 + 1])),
  );
  return seeds;
}

// ------------------------------------------------------------- netlink

// Native byte order (little-endian here), as the kernel sends it.
function nlmsg(type, flags, body, attrs = []) {
  const payload = Buffer.concat([Buffer.from(body), ...attrs]);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + payload.length, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(flags, 6);
  h.writeUInt32LE(1, 8);
  h.writeUInt32LE(0, 12);
  const m = Buffer.concat([h, payload]);
  return Buffer.concat([m, Buffer.alloc((4 - (m.length % 4)) % 4)]);
}
function rta(type, data) {
  const d = Buffer.from(data);
  const h = Buffer.alloc(4);
  h.writeUInt16LE(4 + d.length, 0);
  h.writeUInt16LE(type, 2);
  return Buffer.concat([h, d, Buffer.alloc((4 - (d.length % 4)) % 4)]);
}
const u32 = (v) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const str = (s) => Buffer.from(`${s}\0`);

const RTM_NEWLINK = 16;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const RTM_NEWRULE = 32;
const NLM_F_MULTI = 2;

function link(index, name, mtu, kind) {
  const ifi = Buffer.alloc(16);
  ifi.writeUInt16LE(kind === 'tun' ? 65534 : 1, 2);
  ifi.writeInt32LE(index, 4);
  ifi.writeUInt32LE(0x1043, 8);
  const attrs = [rta(3, str(name)), rta(4, u32(mtu)), rta(13, u32(500)), rta(16, [6])];
  if (kind) attrs.push(rta(18, rta(1, str(kind))));
  attrs.push(rta(23, Buffer.alloc(8 * 24, 1))); // IFLA_STATS64
  return nlmsg(RTM_NEWLINK, NLM_F_MULTI, ifi, attrs);
}
function addr(family, index, a, len) {
  const body = Buffer.from([family, len, 0, 0, ...u32(index)]);
  return nlmsg(RTM_NEWADDR, NLM_F_MULTI, body, [rta(1, a), rta(2, a), rta(3, str('eth0'))]);
}
function route(family, dst, len, table, { oif, gw, prio, type = 1 } = {}) {
  const body = Buffer.from([family, len, 0, 0, table < 256 ? table : 252, 4, 0, type, 0, 0, 0, 0]);
  const attrs = [];
  if (len) attrs.push(rta(1, dst));
  attrs.push(rta(15, u32(table)));
  if (oif !== undefined) attrs.push(rta(4, u32(oif)));
  if (gw) attrs.push(rta(5, gw));
  if (prio !== undefined) attrs.push(rta(6, u32(prio)));
  return nlmsg(RTM_NEWROUTE, NLM_F_MULTI, body, attrs);
}
function rule(family, table, prio, extra = []) {
  const body = Buffer.from([family, 0, 0, 0, table < 256 ? table : 252, 0, 0, 1, 0, 0, 0, 0]);
  return nlmsg(RTM_NEWRULE, NLM_F_MULTI, body, [rta(15, u32(table)), rta(6, u32(prio)), ...extra]);
}
function ack(error) {
  const b = Buffer.alloc(20);
  b.writeInt32LE(error, 0);
  b.writeUInt32LE(16, 4);
  b.writeUInt16LE(RTM_NEWROUTE, 8);
  return nlmsg(2, 0, b);
}
const done = () => nlmsg(3, NLM_F_MULTI, u32(0));

function netlinkSeeds() {
  const v4 = (a, b, c, d) => [a, b, c, d];
  const v6 = (...g) => Buffer.from([0x20, 0x01, 0x0d, 0xb8, ...g, ...Array(12 - g.length).fill(0)]);
  const seeds = {
    links: Buffer.concat([
      link(1, 'lo', 65536),
      link(2, 'eth0', 1500, 'veth'),
      link(7, 'tun0', 1420, 'tun'),
      done(),
    ]),
    addrs: Buffer.concat([addr(2, 2, v4(192, 0, 2, 1), 24), addr(10, 2, v6(0, 1), 64), done()]),
    routes: Buffer.concat([
      route(2, v4(0, 0, 0, 0), 0, 254, { oif: 2, gw: v4(192, 0, 2, 254), prio: 100 }),
      route(2, v4(198, 18, 0, 0), 15, 30100, { oif: 7 }),
      route(2, v4(198, 18, 7, 0), 24, 30100, { type: 9 }), // throw
      route(10, v6(), 0, 30100, { type: 6 }), // blackhole
      route(10, v6(0, 2), 48, 30100, { oif: 7, prio: 1024 }),
      done(),
    ]),
    'default-v6': Buffer.concat([
      route(10, v6(), 0, 254, { oif: 2, gw: v6(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), prio: 1024 }),
      done(),
    ]),
    rules: Buffer.concat([
      rule(2, 30100, 30100),
      rule(10, 30100, 30100),
      rule(2, 254, 32766, [rta(14, u32(0))]), // suppress_prefixlength 0
      rule(2, 253, 32767),
      done(),
    ]),
    acks: Buffer.concat([ack(0), ack(-17), ack(-2), ack(-4095)]),
    'ack-short': nlmsg(2, 0, Buffer.alloc(2)),
    'attr-too-long': (() => {
      const m = Buffer.from(link(3, 'x', 1500));
      m.writeUInt16LE(0xfff0, 32); // the first attribute's rta_len
      return m;
    })(),
    'message-too-long': (() => {
      const m = Buffer.from(rule(2, 1, 1));
      m.writeUInt32LE(m.length + 64, 0);
      return m;
    })(),
    'nested-linkinfo': link(9, 'name-fifteen-ch', 9000, 'wireguard'),
  };
  return seeds;
}

// ------------------------------------------------------------- cidr

function cidrSeeds() {
  const texts = [
    '10.0.0.0/8',
    '0.0.0.0/0',
    '255.255.255.255/32',
    '198.18.0.1/15',
    '1.2.3.4/33',
    '01.2.3.4/8',
    '1.2.3/8',
    '1.2.3.4.5/8',
    '256.1.1.1/8',
    '1.2.3.4/',
    '1.2.3.4',
    '::/0',
    '::',
    '::1',
    '2001:db8::/32',
    '2001:db8::1/128',
    '2001:db8:0:0:0:0:0:1/64',
    '2001:DB8:a:B:c:D:e:F/129',
    '::ffff:192.0.2.1/128',
    '1::2::3/64',
    '1:2:3:4:5:6:7:8:9/64',
    '12345::/16',
    'fe80::1%eth0/64',
    '::ffff:1.2.3/96',
    '1:2:3:4:5:6:1.2.3.4',
    '2001:db8::/032',
    ':1::/64',
    '1::/64/',
    '',
  ];
  return Object.fromEntries(
    texts.map((t, i) => [`text-${String(i).padStart(2, '0')}`, Buffer.from(t)]),
  );
}

// aead_fuzz: flags, count, (offset, length) int16 pairs, then the buffer;
// flags 0xff: a run of replay-window steps instead.
function aeadSeeds() {
  const seeds = {};
  const entry = (off, len) => [off & 0xff, (off >> 8) & 0xff, len & 0xff, (len >> 8) & 0xff];
  const buf = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff));
  for (const flags of [0, 1, 2, 6, 8, 16, 17, 32, 0x1b]) {
    seeds[`batch-${flags}`] = Buffer.concat([
      Buffer.from([flags, 3, ...entry(16, 20), ...entry(120, 0), ...entry(200, 60)]),
      buf(400),
    ]);
  }
  seeds['overlap'] = Buffer.concat([
    Buffer.from([0x10, 2, ...entry(10, 40), ...entry(30, 40)]),
    buf(200),
  ]);
  seeds['outside'] = Buffer.concat([
    Buffer.from([0, 2, ...entry(-5, 10), ...entry(90, 100)]),
    buf(100),
  ]);
  seeds['window'] = Buffer.from([0xff, ...buf(256)]);
  return seeds;
}

const ALL = {
  aead_fuzz: aeadSeeds,
  cidr_fuzz: cidrSeeds,
  classify_fuzz: classifySeeds,
  netlink_fuzz: netlinkSeeds,
  offload_fuzz: offloadSeeds,
};

/** Writes the seeds of `targets` under out/<target>/ (emptied first); returns counts. */
function writeSeeds(out, targets = Object.keys(ALL)) {
  const counts = {};
  for (const t of targets) {
    if (!ALL[t]) continue;
    const dir = path.join(out, t);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const seeds = ALL[t]();
    for (const [name, data] of Object.entries(seeds))
      fs.writeFileSync(path.join(dir, `seed-${name}`), data);
    counts[t] = Object.keys(seeds).length;
  }
  return counts;
}

module.exports = { writeSeeds, packet, targets: Object.keys(ALL) };

if (require.main === module) {
  const [out, ...targets] = process.argv.slice(2);
  if (!out) {
    console.error('usage: node scripts/fuzz-seeds.js OUT_DIR [target ...]');
    process.exit(2);
  }
  const counts = writeSeeds(out, targets.length ? targets : undefined);
  for (const [t, n] of Object.entries(counts)) console.log(`${t}: ${n} seeds`);
}
