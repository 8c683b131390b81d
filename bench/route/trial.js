'use strict';
// One benchmark trial, in its own process (bench/route/run.js starts one per
// implementation and set): builds the table, times lookups, prints one
// JSON line.
//
//   node bench/route/trial.js <impl> <set>
//   impl: ours | longest-prefix-match | arkime-iptrie | cidr-matcher
const fs = require('node:fs');
const path = require('node:path');
const Benchmark = require('benchmark');

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

// ns per address of fn(i), where one call handles `per` addresses, with
// benchmark.js: it calls fn in a loop for MAX_TIME seconds in cycles of a
// calibrated count (at least 5); the best cycle counts (the machine is
// shared: a neighbour only ever slows a cycle down), the mean is kept too.
// Its own cost per call is ~9 ns here (an empty function), within the
// noise of the single-address figures (65-80 ns for lookup(number) with a
// plain hrtime loop and with benchmark.js).
// cpuNs: CPU time per address over the whole run (calibration included),
// which a busy neighbour moves far less than wall time.
function measure(fn, per, { maxTime = MAX_TIME, minSamples = 5 } = {}) {
  let i = 0;
  let calls = 0;
  const bench = new Benchmark({
    fn: () => {
      fn(i);
      i = (i + per) & (NKEYS - 1);
      calls++;
    },
    maxTime,
    minSamples,
  });
  const cpu0 = process.cpuUsage();
  bench.run({ async: false });
  const cpu = process.cpuUsage(cpu0);
  if (bench.error) throw bench.error;
  const { sample, mean, rme } = bench.stats;
  return {
    ns: (Math.min(...sample) * 1e9) / per,
    meanNs: (mean * 1e9) / per,
    rme,
    cpuNs: ((cpu.user + cpu.system) * 1e3) / calls / per,
  };
}

// Classify: 256 packets per call (the packet path's batch), 64-byte packets.
// Each call writes the next 256 keys into the packets' destination fields,
// as a packet path gets new packets (the copy is charged to us, as in the
// batch figures): 256 packets classified again and again would be 256
// destinations in cache, a figure no traffic gives.
function classify256(t) {
  const n = 256;
  const data = new Uint8Array(64 * n);
  const dv = new DataView(data.buffer);
  const metaArr = new Int32Array(2 * n);
  for (let i = 0; i < n; i++) {
    metaArr[2 * i] = 64 * i;
    metaArr[2 * i + 1] = 64;
    data[64 * i] = fam === 4 ? 0x45 : 0x60;
  }
  const o = new Int32Array(n);
  // IPv6: four 32-bit words a key (the bytes as they are), no subarray.
  const words = new Uint32Array(data.buffer);
  const keyWords = fam === 6 ? new Uint32Array(keyBytes.buffer) : null;
  return (i) => {
    if (fam === 4) for (let j = 0; j < n; j++) dv.setUint32(64 * j + 16, keys4[i + j]);
    else
      for (let j = 0; j < n; j++) {
        const w = 16 * j + 6;
        const k = 4 * (i + j);
        words[w] = keyWords[k];
        words[w + 1] = keyWords[k + 1];
        words[w + 2] = keyWords[k + 2];
        words[w + 3] = keyWords[k + 3];
      }
    return t.classify(data, metaArr, n, o);
  };
}

function arkimeTable() {
  const { IPTrie } = require(process.env.ARKIME_IPTRIE);
  const tr = new IPTrie();
  for (let i = 0; i < cidrs.length; i++) {
    const s = cidrs[i];
    const k = s.indexOf('/');
    tr.add(s.slice(0, k), Number(s.slice(k + 1)), values[i]);
  }
  return tr;
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
  // would, and looks them up (the copy is charged to us). Each size gets a
  // function of its own source: closures of one literal share V8's feedback
  // and optimized code, and 256 per call measured after 1 per call came out
  // 1.2 ns per address slower (srv4_1m: 12.1 against 10.9 measured alone).
  for (const n of B) {
    const body =
      fam === 4
        ? `for (let j = 0; j < ${n}; j++) inp[j] = keys[i + j];
           return t.lookupBatch4(inp, o);`
        : `inp.set(keys.subarray(16 * i, 16 * (i + ${n})));
           return t.lookupBatch6(inp, o);`;
    const fn = new Function('keys', 'inp', 't', 'o', `return function batch${n}(i) { ${body} };`)(
      fam === 4 ? keys4 : keyBytes,
      fam === 4 ? new Uint32Array(n) : new Uint8Array(16 * n),
      t,
      new Int32Array(n),
    );
    out.batch[n] = measure(fn, n);
  }
  if (fam === 4) out.lookupNumber = measure((i) => t.lookup(keys4[i]), 1);
  out.lookupString = measure((i) => t.lookup(strs[i & (NSTR - 1)]), 1);
  out.classify256 = measure(classify256(t), 256);
  // One by one, as a server adds peers: insert() each prefix into a new
  // table, then the first lookup (which applies what is pending; after a
  // burst like this one it answers from the control plane while a worker
  // rebuilds), then until the rebuilt structure is in place.
  {
    const u = new RouteTable();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < cidrs.length; i++) u.insert(cidrs[i], values[i]);
    const t1 = process.hrtime.bigint();
    u.lookup(fam === 4 ? keys4[0] : strs[0]);
    const t2 = process.hrtime.bigint();
    out.insertOneByOneMs = Number(t1 - t0) / 1e6;
    out.firstLookupAfterMs = Number(t2 - t1) / 1e6;
    if (u.size !== t.size) throw new Error('one-by-one size differs');
    out.insertOneByOneRebuilt = u.rebuilding;
    u.clear();
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
  const [ms, t] = time(arkimeTable);
  out.buildMs = ms;
  out.lookupString = measure((i) => t.find(strs[i & (NSTR - 1)]), 1);
} else if (impl === 'cidr-matcher') {
  // A matcher (true/false), not a table: it scans its ranges linearly.
  const CIDRMatcher = require('cidr-matcher');
  const [ms, t] = time(() => new CIDRMatcher(cidrs));
  out.buildMs = ms;
  out.lookupString = measure((i) => t.contains(strs[i & (NSTR - 1)]), 1);
} else if (impl === 'paired') {
  // For the gate (bench:check, IPv4 sets): each of our figures right after
  // arkime-iptrie's lookup(string), in one process, for ROUNDS rounds, so
  // that a ratio compares measurements a fraction of a second apart: a
  // neighbour's burst then hits both sides of it.
  const { RouteTable } = require(path.join(process.env.ROUTE_DIST, 'route'));
  const t = RouteTable.from(cidrs, values);
  const peer = arkimeTable();
  const n = 256;
  const inp = new Uint32Array(n);
  const o = new Int32Array(n);
  const figures = {
    'lookupBatch4 256/call': [
      (i) => {
        for (let j = 0; j < n; j++) inp[j] = keys4[i + j];
        return t.lookupBatch4(inp, o);
      },
      n,
    ],
    'classify 256/call': [classify256(t), n],
    'lookup(number)': [(i) => t.lookup(keys4[i]), 1],
    'lookup(string)': [(i) => t.lookup(strs[i & (NSTR - 1)]), 1],
  };
  const short = { maxTime: 0.05, minSamples: 2 };
  out.rounds = [];
  for (let r = 0; r < Number(process.env.BENCH_ROUNDS || 7); r++) {
    const round = {};
    for (const [name, [fn, per]] of Object.entries(figures)) {
      round[name] = {
        'arkime-iptrie': measure((i) => peer.find(strs[i & (NSTR - 1)]), 1, short),
        ours: measure(fn, per, short),
      };
    }
    out.rounds.push(round);
  }
  console.log(JSON.stringify(out));
} else {
  throw new Error(`unknown impl ${impl}`);
}

if (impl !== 'ours' && impl !== 'paired') {
  out.heapBytesPerPrefix =
    (process.memoryUsage().heapUsed -
      mem0.heapUsed +
      (process.memoryUsage().external - mem0.external)) /
    cidrs.length;
  console.log(JSON.stringify(out));
}
