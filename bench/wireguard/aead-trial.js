'use strict';
// One trial of the batch AEAD benchmark, the package's side: AeadKey.seal
// or .open on a batch shaped like bench/wireguard/aead.c's (COUNT packets
// of SIZE bytes, 16 bytes of room before, 32 after), one call a batch.
// Prints the same JSON line as aead.c.
//   node aead-trial.js seal|open SIZE COUNT SECONDS
const path = require('node:path');
const { AeadKey } = require(path.join(__dirname, '../../dist'));

const [mode, size, count, seconds] = process.argv.slice(2).map((x, i) => (i ? Number(x) : x));
const stride = 16 + size + 32;
const data = new Uint8Array(count * stride);
for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
const meta = new Int32Array(2 * count);
for (let i = 0; i < count; i++) meta.set([i * stride + 16, size], 2 * i);
const fresh = meta.slice();
const batch = { data, meta, count, tailroom: 32 };
const key = new AeadKey('chacha20-poly1305', new Uint8Array(32).fill(7));
const counters = new BigUint64Array(count);
// Open needs sealed packets, at the offsets aead.c has them.
key.seal(batch, { counters });
const sealed = meta.slice();
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const t0 = process.hrtime.bigint();
const c0 = cpu();
let packets = 0;
let failures = 0;
let t;
do {
  for (let k = 0; k < 16; k++) {
    if (mode === 'seal') {
      meta.set(fresh);
      packets += key.seal(batch);
    } else {
      meta.set(sealed);
      const opened = key.open(batch, { counters });
      failures += count - opened;
      packets += count;
    }
  }
  t = Number(process.hrtime.bigint() - t0) / 1e9;
} while (t < seconds);
console.log(
  JSON.stringify({ packets, bytes: packets * size, seconds: t, cpu: cpu() - c0, failures }),
);
