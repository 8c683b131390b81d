#!/usr/bin/env node
'use strict';
// Correctness on the benchmark's own data: every key of a set looked up in
// a RouteTable built as a server would (insert() one by one) and one built
// in bulk (from), with lookupBatch, classify and lookup, against a naive
// reference (a Map per prefix length, longest first). Prints the
// mismatches per method (0 expected) and exits 1 on any.
//
//   node bench/route/verify.js [set ...]     (default: srv4_1m srv6_700k)
const fs = require('node:fs');
const path = require('node:path');
const { RouteTable } = require(path.join(__dirname, '..', '..', 'dist'));

const DIR = path.join(__dirname, '..', '.cache', 'route');
const sets = process.argv.slice(2).length ? process.argv.slice(2) : ['srv4_1m', 'srv6_700k'];
let bad = 0;
for (const name of sets) {
  if (!fs.existsSync(path.join(DIR, `${name}.txt`))) require('./data').writeAll(undefined, [name]);
  const fam = JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8'))[name].family;
  const cidrs = fs.readFileSync(path.join(DIR, `${name}.txt`), 'utf8').split('\n');
  const vb = fs.readFileSync(path.join(DIR, `${name}.values.bin`));
  const values = new Int32Array(vb.buffer.slice(vb.byteOffset, vb.byteOffset + vb.length));
  const ab = fs.readFileSync(path.join(DIR, `${name}.addrs.bin`));
  const keys = new Uint8Array(ab.buffer.slice(ab.byteOffset, ab.byteOffset + ab.length));
  const n = Math.min(fam === 4 ? keys.length / 4 : keys.length / 16, 1 << 18);
  // The reference: per length, network (as the text of a bigint) -> value;
  // later duplicates win.
  const W = fam === 4 ? 32 : 128;
  const byLen = Array.from({ length: W + 1 }, () => new Map());
  const toBig = (text) => {
    if (fam === 4) return BigInt(text.split('.').reduce((a, x) => a * 256 + Number(x), 0));
    const [h, t] = text.split('::');
    const hs = h ? h.split(':') : [];
    const ts = t === undefined ? [] : t ? t.split(':') : [];
    const g = t === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
    return g.reduce((a, x) => (a << 16n) | BigInt(parseInt(x, 16)), 0n);
  };
  cidrs.forEach((c, i) => {
    const [a, l] = c.split('/');
    const len = Number(l);
    const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(W - len);
    byLen[len].set(String(toBig(a) & mask), values[i]);
  });
  const lens = byLen
    .map((m, l) => (m.size ? l : -1))
    .filter((l) => l >= 0)
    .reverse();
  const key = (i) => {
    if (fam === 4) return BigInt(new Uint32Array(keys.buffer, 4 * i, 1)[0]);
    let v = 0n;
    for (let k = 0; k < 16; k++) v = (v << 8n) | BigInt(keys[16 * i + k]);
    return v;
  };
  const want = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = key(i);
    want[i] = -1;
    for (const l of lens) {
      const mask = l === 0 ? 0n : ((1n << BigInt(l)) - 1n) << BigInt(W - l);
      const v = byLen[l].get(String(k & mask)); // bigint keys hash badly in a Map
      if (v !== undefined) {
        want[i] = v;
        break;
      }
    }
  }
  const one = new RouteTable();
  for (let i = 0; i < cidrs.length; i++) one.insert(cidrs[i], values[i]);
  const bulk = RouteTable.from(cidrs, values);
  for (const [how, t] of [
    ['insert() one by one', one],
    ['from()', bulk],
  ]) {
    const got = new Int32Array(n);
    if (fam === 4) t.lookupBatch4(new Uint32Array(keys.buffer, 0, n), got);
    else t.lookupBatch6(keys.subarray(0, 16 * n), got);
    const cls = new Int32Array(n);
    const pk = new Uint8Array(64 * n);
    const meta = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) {
      meta[2 * i] = 64 * i;
      meta[2 * i + 1] = 64;
      pk[64 * i] = fam === 4 ? 0x45 : 0x60;
      if (fam === 4) new DataView(pk.buffer).setUint32(64 * i + 16, Number(key(i)));
      else pk.set(keys.subarray(16 * i, 16 * i + 16), 64 * i + 24);
    }
    t.classify(pk, meta, n, cls);
    let mb = 0;
    let mc = 0;
    let ms = 0;
    for (let i = 0; i < n; i++) {
      if (got[i] !== want[i]) mb++;
      if (cls[i] !== want[i]) mc++;
      if (i % 64 === 0) {
        const s =
          fam === 4
            ? Number(key(i))
            : key(i)
                .toString(16)
                .padStart(32, '0')
                .replace(/(.{4})(?!$)/g, '$1:');
        if ((t.lookup(s) ?? -1) !== want[i]) ms++;
      }
    }
    bad += mb + mc + ms;
    console.log(
      `${name} ${how}: ${n} keys, mismatches: lookupBatch ${mb}, classify ${mc}, lookup ${ms} (of ${Math.ceil(n / 64)})`,
    );
  }
}
process.exit(bad ? 1 : 0);
