'use strict';
// One benchmark trial, in its own process (bench/route/run.js starts one per
// implementation and set): builds the table, times lookups, prints one
// JSON line.
//
//   node bench/route/trial.js <impl> <set>
//   impl: ours | longest-prefix-match | arkime-iptrie | cidr-matcher
const fs = require('node:fs');
const path = require('node:path');

const [impl, setName] = process.argv.slice(2);
const DIR = path.join(__dirname, '..', '.cache', 'route');
const index = JSON.parse(fs.readFileSync(path.join(DIR, 'index.json'), 'utf8'));
const meta = index[setName];
const fam = meta.family;
const textBuf = fs.readFileSync(path.join(DIR, `${setName}.txt`));
const cidrs = textBuf.toString('utf8').split('\n');
const vbuf = fs.readFileSync(path.join(DIR, `${setName}.values.bin`));
const values = new Int32Array(vbuf.buffer.slice(vbuf.byteOffset, vbuf.byteOffset + vbuf.length));
const abuf = fs.readFileSync(path.join(DIR, `${setName}.addrs.bin`));
const keyBytes = new Uint8Array(abuf.buffer.slice(abuf.byteOffset, abuf.byteOffset + abuf.length));
const NKEYS = fam === 4 ? keyBytes.length / 4 : keyBytes.length / 16;
const keys4 = fam === 4 ? new Uint32Array(keyBytes.buffer) : null;

function text4(a) {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
function text6(b, i) {
  const g = [];
  for (let j = 0; j < 8; j++)
    g.push(((b[16 * i + 2 * j] << 8) | b[16 * i + 2 * j + 1]).toString(16));
  return g.join(':');
}
const NSTR = 1 << 16;
const strs = [];
for (let i = 0; i < NSTR; i++) strs.push(fam === 4 ? text4(keys4[i]) : text6(keyBytes, i));

const MAX_TIME = Number(process.env.BENCH_MAX_TIME || 0.6);

// ns per address of fn(i), where one call handles `per` addresses: calls in
// chunks of 256 for MAX_TIME seconds, split into 5 rounds after a warm-up;
// the best round counts (the machine is shared). A plain hrtime loop: with
// benchmark.js's own per-call overhead (~100 ns here) single-address figures
// would measure the harness.
function measure(fn, per) {
  let i = 0;
  const round = (seconds) => {
    const limit = BigInt(Math.round(seconds * 1e9));
    const t0 = process.hrtime.bigint();
    let calls = 0;
    let el = 0n;
    do {
      for (let k = 0; k < 256; k++) {
        fn(i);
        i = (i + per) & (NKEYS - 1);
      }
      calls += 256;
      el = process.hrtime.bigint() - t0;
    } while (el < limit);
    return Number(el) / calls / per;
  };
  round(MAX_TIME / 5);
  const rounds = [];
  for (let r = 0; r < 5; r++) rounds.push(round(MAX_TIME / 5));
  const best = Math.min(...rounds);
  const mean = rounds.reduce((x, y) => x + y, 0) / rounds.length;
  return { ns: best, meanNs: mean };
}

const out = { impl, set: setName, family: fam, prefixes: cidrs.length, node: process.version };
const mem0 = process.memoryUsage();

function time(fn) {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

if (impl === 'ours') {
  const { RouteTable } = require(path.join(process.env.ROUTE_DIST, 'route'));
  const [ms, t] = time(() => RouteTable.from(cidrs, values));
  out.buildMs = ms;
  out.bytes = t.bytes;
  out.bytesPerPrefix = t.bytes / t.size;
  out.controlBytesPerPrefix = t.controlBytes / t.size;
  const B = [1, 16, 256, 4096];
  out.batch = {};
  // Each call fills one input buffer with the next n addresses, as a caller
  // would, and looks them up (the copy is charged to us).
  for (const n of B) {
    const o = new Int32Array(n);
    if (fam === 4) {
      const inp = new Uint32Array(n);
      out.batch[n] = measure((i) => {
        for (let j = 0; j < n; j++) inp[j] = keys4[i + j];
        return t.lookupBatch4(inp, o);
      }, n);
    } else {
      const inp = new Uint8Array(16 * n);
      out.batch[n] = measure((i) => {
        inp.set(keyBytes.subarray(16 * i, 16 * (i + n)));
        return t.lookupBatch6(inp, o);
      }, n);
    }
  }
  if (fam === 4) out.lookupNumber = measure((i) => t.lookup(keys4[i]), 1);
  out.lookupString = measure((i) => t.lookup(strs[i & (NSTR - 1)]), 1);
  // Classify: 256 packets per call (the packet path's batch), 64-byte packets.
  {
    const n = 256;
    const data = new Uint8Array(64 * n);
    const metaArr = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) {
      metaArr[2 * i] = 64 * i;
      metaArr[2 * i + 1] = 64;
      if (fam === 4) {
        data[64 * i] = 0x45;
        new DataView(data.buffer).setUint32(64 * i + 16, keys4[i]);
      } else {
        data[64 * i] = 0x60;
        data.set(keyBytes.subarray(16 * i, 16 * i + 16), 64 * i + 24);
      }
    }
    const o = new Int32Array(n);
    out.classify256 = measure(() => t.classify(data, metaArr, n, o), n);
  }
  // Async builds: wall time and the longest event-loop stall meanwhile,
  // from the array of strings and from the text as read from the file.
  const { monitorEventLoopDelay } = require('node:perf_hooks');
  const timedAsync = async (list) => {
    global.gc();
    const h = monitorEventLoopDelay({ resolution: 1 });
    h.enable();
    const t0 = process.hrtime.bigint();
    const u = await RouteTable.fromAsync(list, values);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    h.disable();
    if (u.size !== t.size) throw new Error('fromAsync size differs');
    return [ms, h.max / 1e6];
  };
  (async () => {
    [out.buildAsyncMs, out.buildAsyncMaxLoopStallMs] = await timedAsync(cidrs);
    [out.buildAsyncTextMs, out.buildAsyncTextMaxLoopStallMs] = await timedAsync(textBuf);
    global.gc();
    [out.buildTextMs] = time(() => RouteTable.from(textBuf, values));
    console.log(JSON.stringify(out));
  })();
} else if (impl === 'longest-prefix-match') {
  const LPM = require('longest-prefix-match');
  const [ms, t] = time(() => {
    const l = new LPM();
    for (let i = 0; i < cidrs.length; i++) l.addPrefix(cidrs[i], values[i]);
    l.getMatch(fam === 4 ? '1.2.3.4/32' : '2001:db8::1/128'); // builds its index
    return l;
  });
  out.buildMs = ms;
  const suffix = fam === 4 ? '/32' : '/128';
  const q = strs.map((s) => s + suffix);
  out.lookupString = measure((i) => t.getMatch(q[i & (NSTR - 1)]), 1);
} else if (impl === 'arkime-iptrie') {
  const { IPTrie } = require(process.env.ARKIME_IPTRIE);
  const [ms, t] = time(() => {
    const tr = new IPTrie();
    for (let i = 0; i < cidrs.length; i++) {
      const s = cidrs[i];
      const k = s.indexOf('/');
      tr.add(s.slice(0, k), Number(s.slice(k + 1)), values[i]);
    }
    return tr;
  });
  out.buildMs = ms;
  out.lookupString = measure((i) => t.find(strs[i & (NSTR - 1)]), 1);
} else if (impl === 'cidr-matcher') {
  // A matcher (true/false), not a table: it scans its ranges linearly.
  const CIDRMatcher = require('cidr-matcher');
  const [ms, t] = time(() => new CIDRMatcher(cidrs));
  out.buildMs = ms;
  out.lookupString = measure((i) => t.contains(strs[i & (NSTR - 1)]), 1);
} else {
  throw new Error(`unknown impl ${impl}`);
}

if (impl !== 'ours') {
  out.heapBytesPerPrefix =
    (process.memoryUsage().heapUsed -
      mem0.heapUsed +
      (process.memoryUsage().external - mem0.external)) /
    cidrs.length;
  console.log(JSON.stringify(out));
}
