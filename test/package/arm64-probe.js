'use strict';
// Run by test/package/arm64.test.ts with an arm64 Node under qemu-user, in
// a folder where the packed tarball was installed: the package must load its
// linux-arm64 prebuild, agree with a naive route table, and carry packets
// both ways through a TUN device (inside a network namespace of the test's).
const dgram = require('node:dgram');
const path = require('node:path');
const dir = path.dirname(require.resolve('vpn-provider/package.json'));
const gypBuild = require(require.resolve('node-gyp-build', { paths: [dir] }));
const { RouteTable, TunDevice } = require('vpn-provider');

const out = { arch: process.arch, addon: path.relative(dir, gypBuild.path(dir)) };

// The route table against a naive reference: random IPv4 prefixes and keys.
let seed = 12345;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 0;
const prefixes = [];
const t = new RouteTable();
for (let i = 0; i < 3000; i++) {
  const len = 8 + (rnd() % 25);
  const net = (rnd() & (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0)) >>> 0;
  prefixes.push([net, len, i]);
  t.insert(`${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`, i);
}
const naive = (a) => {
  let best = -1;
  let value;
  for (const [net, len, v] of prefixes) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if ((a & mask) >>> 0 === net && len >= best) {
      if (len > best || v > value) value = v; // the last insert of a prefix wins
      best = len;
    }
  }
  return value;
};
const keys = new Uint32Array(4096);
for (let i = 0; i < keys.length; i++) {
  const [net, len] = prefixes[rnd() % prefixes.length];
  keys[i] = i % 2 ? rnd() : (net | (rnd() & ~((0xffffffff << (32 - len)) >>> 0))) >>> 0;
}
const batch = new Int32Array(keys.length);
t.lookupBatch4(keys, batch);
let mismatches = 0;
for (let i = 0; i < keys.length; i++) {
  const want = naive(keys[i]);
  const a = keys[i];
  const single = t.lookup(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`);
  if (single !== want || batch[i] !== (want === undefined ? -1 : want)) mismatches++;
}
out.lookups = keys.length;
out.mismatches = mismatches;

// A UDP/IPv4 packet from 198.18.0.9:7 to 198.18.0.1:port (UDP checksum 0: none).
function udpPacket(port, payload) {
  const p = Buffer.alloc(28 + payload.length);
  p[0] = 0x45;
  p.writeUInt16BE(p.length, 2);
  p[8] = 64;
  p[9] = 17;
  Buffer.from([198, 18, 0, 9]).copy(p, 12);
  Buffer.from([198, 18, 0, 1]).copy(p, 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += p.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p.writeUInt16BE(~sum & 0xffff, 10);
  p.writeUInt16BE(7, 20);
  p.writeUInt16BE(port, 22);
  p.writeUInt16BE(8 + payload.length, 24);
  payload.copy(p, 28);
  return p;
}

(async () => {
  const dev = await TunDevice.open({ name: 'arm0', addresses: ['198.18.0.1/24'], offload: false });
  // Into the tunnel: a datagram the kernel routes into the device.
  const read = new Promise((resolve) =>
    dev.onPacketsReceived.addListener((b) => {
      for (let i = 0; i < b.count; i++) {
        const p = b.packet(i);
        if (p[0] >> 4 === 4 && p[9] === 17) resolve(Buffer.from(p));
      }
    }),
  );
  const s = dgram.createSocket('udp4');
  await new Promise((r) => s.bind(0, '198.18.0.1', r));
  s.send('hello from the kernel', 9, '198.18.0.9');
  const p = await read;
  out.read = { dst: [...p.subarray(16, 20)].join('.'), payload: p.subarray(28).toString() };
  // Out of it: a packet written to the device reaches the socket.
  const got = new Promise((r) => s.once('message', (m) => r(m.toString())));
  await dev.sendPacket(udpPacket(s.address().port, Buffer.from('hello from arm64')));
  out.written = await got;
  s.close();
  dev.close();
  console.log(JSON.stringify(out));
})().catch((err) => {
  console.log(JSON.stringify({ ...out, error: String(err.stack || err) }));
  process.exitCode = 1;
});
