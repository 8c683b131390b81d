'use strict';
// Prefix sets for the route-table benchmarks, all deterministic:
//
//  - real: the CC0 npm package @ip-location-db/asn-country (RIR delegations
//    by country), fetched with `npm pack` into bench/.cache/ (git-ignored,
//    never committed); its address ranges are split into CIDRs, the value of
//    each is its country's index.
//  - synthetic: n prefixes with a BGP-like length mix, clustered in a few
//    thousand allocation blocks the way the global table is, values 0..255
//    (a peer id, say).
//
// `node bench/route/data.js` writes every set to bench/.cache/route/ for the
// C++ benchmark: <name>.txt (one CIDR a line), <name>.values.bin (Int32,
// little-endian) and <name>.addrs.bin (lookup keys: Uint32 for IPv4, 16-byte
// addresses for IPv6), half inside random prefixes of the set, half random.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const CACHE = path.join(__dirname, '..', '.cache');
const REAL_PACKAGE = '@ip-location-db/asn-country';

// splitmix32-ish PRNG, so that every run sees the same sets.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function pick(r, table) {
  // table: [[weight, value], ...]
  let total = 0;
  for (const [w] of table) total += w;
  let x = (r() / 2 ** 32) * total;
  for (const [w, v] of table) {
    if ((x -= w) < 0) return v;
  }
  return table[table.length - 1][1];
}

function ip4(a) {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

function mask4(len) {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

// IPv4 prefix lengths in the global table (RIPE RIS, 2024, rounded).
const LEN4 = [
  [0.3, 8],
  [0.1, 9],
  [0.2, 10],
  [0.3, 11],
  [0.5, 12],
  [0.6, 13],
  [0.8, 14],
  [1.0, 15],
  [1.6, 16],
  [0.9, 17],
  [1.4, 18],
  [2.8, 19],
  [4.4, 20],
  [5.3, 21],
  [11.5, 22],
  [9.0, 23],
  [58.0, 24],
  [0.2, 25],
  [0.2, 26],
  [0.2, 27],
  [0.2, 28],
  [0.2, 29],
  [0.1, 30],
  [0.1, 32],
];

function synthetic4(n, seed = 1) {
  const r = rng(seed);
  // Allocation blocks: /8-/14 regions where prefixes cluster.
  const blocks = [];
  while (blocks.length < 3000) {
    const len = 8 + (r() % 7);
    const a = r() & mask4(len);
    const first = a >>> 24;
    if (first === 0 || first === 10 || first === 127 || first >= 224) continue;
    blocks.push([a, len]);
  }
  const seen = new Set();
  const cidrs = [];
  const values = new Int32Array(n);
  while (cidrs.length < n) {
    const [b, blen] = blocks[r() % blocks.length];
    let len = pick(r, LEN4);
    if (len < blen) len = blen;
    const a = ((b | (r() & ~mask4(blen))) & mask4(len)) >>> 0;
    const key = a * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    values[cidrs.length] = r() & 255;
    cidrs.push(`${ip4(a)}/${len}`);
  }
  return { cidrs, values };
}

// IPv6 lengths in the global table (2024, rounded), plus a few deep ones.
const LEN6 = [
  [0.2, 19],
  [0.2, 20],
  [0.2, 22],
  [0.3, 24],
  [0.3, 26],
  [0.4, 28],
  [3.0, 29],
  [0.6, 30],
  [0.5, 31],
  [11.0, 32],
  [0.8, 33],
  [1.0, 34],
  [0.8, 35],
  [2.5, 36],
  [0.6, 37],
  [0.6, 38],
  [0.6, 39],
  [5.0, 40],
  [0.8, 41],
  [1.2, 42],
  [0.8, 43],
  [6.0, 44],
  [1.4, 45],
  [3.0, 46],
  [3.5, 47],
  [48.0, 48],
  [0.6, 52],
  [1.2, 56],
  [0.4, 60],
  [1.6, 64],
  [0.3, 96],
  [0.5, 128],
];

const TWO64 = 1n << 64n;
function mask6(len) {
  return len === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - len)) - 1n);
}
function big6(r) {
  return (BigInt(r()) << 96n) | (BigInt(r()) << 64n) | (BigInt(r()) << 32n) | BigInt(r());
}
function ip6(a) {
  const g = [];
  for (let i = 0; i < 8; i++) g.push(Number((a >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === best) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out && !out.endsWith(':')) out += ':';
    out += g[i].toString(16);
  }
  return out;
}

function synthetic6(n, seed = 2) {
  const r = rng(seed);
  // RIR /12s, then ~n/10 LIR /32 blocks where prefixes cluster.
  const rirs = [0x2001n, 0x2400n, 0x2600n, 0x2800n, 0x2a00n, 0x2c00n];
  const lirs = [];
  const nl = Math.max(64, Math.floor(n / 10));
  for (let i = 0; i < nl; i++) {
    const top = rirs[r() % rirs.length];
    const low20 = BigInt(r() & (top === 0x2001n ? 0xffff : 0xfffff));
    const base = top === 0x2001n ? (top << 16n) | low20 : ((top >> 4n) << 20n) | low20;
    lirs.push(base << 96n);
  }
  const seen = new Set();
  const cidrs = [];
  const values = new Int32Array(n);
  while (cidrs.length < n) {
    let len = pick(r, LEN6);
    let base = lirs[r() % lirs.length];
    let blen = 32;
    if (len < 32) blen = len;
    const a = ((base & mask6(blen)) | (big6(r) & ~mask6(blen) & mask6(128))) & mask6(len);
    const key = `${a}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    values[cidrs.length] = r() & 255;
    cidrs.push(`${ip6(a)}/${len}`);
    base = 0n;
  }
  return { cidrs, values };
}

// BGP-like and clustered, the way the global table is: address blocks are
// handed out one after another from RIR pools to origin ASes; each AS
// announces its allocation (usually) and often more-specifics of it
// (de-aggregation, mostly /24s); every prefix of an AS has the AS's value
// (its peer / next hop, one of 1024), a more-specific sometimes another.
const ALLOC4 = [
  [30, 24],
  [10, 23],
  [28, 22],
  [10, 21],
  [8, 20],
  [5, 19],
  [3, 18],
  [1.5, 17],
  [2, 16],
  [0.3, 15],
  [0.1, 14],
  [0.05, 13],
  [0.05, 12],
];

function clustered4(n, seed = 21) {
  const r = rng(seed);
  const pools = [];
  for (let a = 1; a < 224; a++) if (a !== 10 && a !== 127) pools.push(a);
  for (let i = pools.length - 1; i > 0; i--) {
    const j = r() % (i + 1);
    [pools[i], pools[j]] = [pools[j], pools[i]];
  }
  let pool = 0;
  let ptr = pools[0] * 2 ** 24;
  const seen = new Set();
  const cidrs = [];
  const vals = [];
  const add = (a, len, v) => {
    const key = a * 64 + len;
    if (seen.has(key) || cidrs.length >= n) return;
    seen.add(key);
    cidrs.push(`${ip4(a)}/${len}`);
    vals.push(v);
  };
  while (cidrs.length < n) {
    const len = pick(r, ALLOC4);
    const size = 2 ** (32 - len);
    ptr = Math.ceil(ptr / size) * size;
    if (r() % 10 === 0) ptr += size * (1 + (r() % 4)); // unannounced gap
    if (ptr + size > (pools[pool] + 1) * 2 ** 24) {
      pool = (pool + 1) % pools.length;
      ptr = pools[pool] * 2 ** 24;
      continue;
    }
    const a = ptr;
    ptr += size;
    const peer = r() % 1024;
    if (len === 24 || r() % 10 < 7) add(a, len, peer);
    if (len < 24 && r() % 10 < 5) {
      // De-aggregation: a few more-specifics inside, mostly /24s.
      const count = 1 + (r() % Math.min(12, 2 ** (24 - len)));
      for (let i = 0; i < count; i++) {
        const sub = r() % 10 < 6 ? 24 : len + 1 + (r() % (24 - len));
        const off = (r() % 2 ** (sub - len)) * 2 ** (32 - sub);
        add(a + off, sub, r() % 20 ? peer : r() % 1024);
      }
    }
  }
  return { cidrs, values: Int32Array.from(vals) };
}

// IPv6 the same way: /32 and /29 LIR allocations, and /48 PI assignments in
// PI pools, handed out in order inside the RIR /12s; /48s and /40s-/44s of
// de-aggregation inside LIR space; a few deep ones (/56, /64, /128).
function clustered6(n, seed = 22) {
  const r = rng(seed);
  const rirs = [
    0x2001n << 112n,
    0x2400n << 112n,
    0x2600n << 112n,
    0x2800n << 112n,
    0x2a00n << 112n,
    0x2c00n << 112n,
  ];
  const lirPtr = rirs.map((b) => b + (1n << 108n));
  const piPtr = rirs.map((b) => b + (8n << 108n));
  const seen = new Set();
  const cidrs = [];
  const vals = [];
  const add = (a, len, v) => {
    const key = `${a}/${len}`;
    if (seen.has(key) || cidrs.length >= n) return;
    seen.add(key);
    cidrs.push(`${ip6(a)}/${len}`);
    vals.push(v);
  };
  while (cidrs.length < n) {
    const rir = r() % rirs.length;
    const peer = r() % 1024;
    if (r() % 100 < 45) {
      // PI /48, next in its RIR's pool.
      add(piPtr[rir], 48, peer);
      piPtr[rir] += 1n << 80n;
      continue;
    }
    const len = r() % 5 === 0 ? 29 : 32;
    const size = 1n << BigInt(128 - len);
    const a = ((lirPtr[rir] + size - 1n) / size) * size;
    lirPtr[rir] = a + size * BigInt(1 + (r() % 2));
    add(a, len, peer);
    const extra = r() % 8;
    for (let i = 0; i < extra; i++) {
      const sub = pick(r, [
        [3, 36],
        [4, 40],
        [4, 44],
        [10, 48],
        [1, 56],
        [1, 64],
        [0.3, 128],
      ]);
      const off = big6(r) & ((1n << BigInt(128 - len)) - 1n) & mask6(sub);
      add(a | off, sub, r() % 20 ? peer : r() % 1024);
    }
  }
  return { cidrs, values: Int32Array.from(vals) };
}

// Splits the range [lo, hi] into CIDRs (numbers for IPv4, BigInts for IPv6).
function rangeToCidrs(lo, hi, bits, fmt, out) {
  const big = typeof lo === 'bigint';
  const one = big ? 1n : 1;
  while (big ? lo <= hi : lo <= hi) {
    let len = bits;
    // Largest block aligned at lo and inside [lo, hi].
    while (len > 0) {
      const size = big ? 1n << BigInt(bits - len + 1) : 2 ** (bits - len + 1);
      const aligned = big ? lo % size === 0n : lo % size === 0;
      if (!aligned || lo + size - one > hi) break;
      len--;
    }
    out.push(`${fmt(lo)}/${len}`);
    lo += big ? 1n << BigInt(bits - len) : 2 ** (bits - len);
  }
}

function fetchReal() {
  const dir = path.join(CACHE, 'asn-country');
  const v4 = path.join(dir, 'package', 'asn-country-ipv4-num.csv');
  if (!fs.existsSync(v4)) {
    fs.mkdirSync(dir, { recursive: true });
    const out = execFileSync('npm', ['pack', REAL_PACKAGE, '--silent'], {
      cwd: dir,
      encoding: 'utf8',
    }).trim();
    const tgz = out.split('\n').pop();
    execFileSync('tar', ['xzf', tgz], { cwd: dir });
  }
  const version = JSON.parse(
    fs.readFileSync(path.join(dir, 'package', 'package.json'), 'utf8'),
  ).version;
  return { dir: path.join(dir, 'package'), version };
}

function realSets() {
  const { dir, version } = fetchReal();
  const countries = new Map();
  const cc = (c) => {
    if (!countries.has(c)) countries.set(c, countries.size);
    return countries.get(c);
  };
  const sets = {};
  for (const fam of ['4', '6']) {
    const text = fs.readFileSync(path.join(dir, `asn-country-ipv${fam}-num.csv`), 'utf8');
    const cidrs = [];
    const vals = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      const [a, b, c] = line.split(',');
      const before = cidrs.length;
      if (fam === '4') rangeToCidrs(Number(a), Number(b), 32, ip4, cidrs);
      else rangeToCidrs(BigInt(a), BigInt(b), 128, ip6, cidrs);
      const v = cc(c);
      for (let i = before; i < cidrs.length; i++) vals.push(v);
    }
    sets[`real${fam}`] = {
      cidrs,
      values: Int32Array.from(vals),
      source: `${REAL_PACKAGE}@${version} (ipv${fam}, ranges split into CIDRs)`,
    };
  }
  return sets;
}

// Lookup keys: half inside random prefixes of the set, half uniformly random
// (IPv6: random within 2000::/3). Shuffled together.
function addresses4(cidrs, n, seed = 3) {
  const r = rng(seed);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      out[i] = r();
      continue;
    }
    const [a, l] = cidrs[r() % cidrs.length].split('/');
    const p = a.split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
    const len = Number(l);
    out[i] = (p | (r() & ~mask4(len))) >>> 0;
  }
  return out;
}

function parse6(s) {
  let [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function addresses6(cidrs, n, seed = 4) {
  const r = rng(seed);
  const out = new Uint8Array(16 * n);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    let a;
    if (i % 2 === 0) {
      a = (0x2000n << 112n) | (big6(r) & ((1n << 125n) - 1n));
    } else {
      const [p, l] = cidrs[r() % cidrs.length].split('/');
      const len = Number(l);
      a = parse6(p) | (big6(r) & ~mask6(len) & mask6(128));
    }
    dv.setBigUint64(16 * i, a >> 64n);
    dv.setBigUint64(16 * i + 8, a % TWO64);
  }
  return out;
}

// Each set's maker, so that a run can make only the sets it uses (the real
// ones need the registry; the synthetic ones only time).
const MAKERS = {
  real4: () => realSets().real4,
  real6: () => realSets().real6,
  syn4_10k: () => ({ ...clustered4(10000, 10), source: 'synthetic, BGP-like, clustered' }),
  syn4_1m: () => ({ ...clustered4(1000000, 11), source: 'synthetic, BGP-like, clustered' }),
  syn6_700k: () => ({ ...clustered6(700000, 12), source: 'synthetic, BGP-like IPv6, clustered' }),
  scat4_1m: () => ({
    ...synthetic4(1000000, 13),
    source: 'adversarial: BGP lengths, scattered, random values',
  }),
  scat6_700k: () => ({
    ...synthetic6(700000, 14),
    source: 'adversarial: BGP IPv6 lengths, scattered, random values',
  }),
  // A VPN server's table (issue #13): the scattered sets with a value of
  // its own for every prefix (a peer each), as inserted one by one.
  srv4_1m: () => ({
    ...distinct(synthetic4(1000000, 13)),
    source: "a server's: BGP lengths, scattered, a value per prefix",
  }),
  srv6_700k: () => ({
    ...distinct(synthetic6(700000, 14)),
    source: "a server's: BGP IPv6 lengths, scattered, a value per prefix",
  }),
};

function distinct(set) {
  return { cidrs: set.cidrs, values: Int32Array.from(set.cidrs, (_, i) => i) };
}

function allSets() {
  return Object.fromEntries(Object.entries(MAKERS).map(([name, make]) => [name, make()]));
}

const family = (name) => (/^(real6|syn6|scat6|srv6)/.test(name) ? 6 : 4);

/**
 * Writes the named sets (default: all) to outDir and adds them to its
 * index.json, which it returns.
 */
function writeAll(outDir = path.join(CACHE, 'route'), names = Object.keys(MAKERS)) {
  fs.mkdirSync(outDir, { recursive: true });
  const indexFile = path.join(outDir, 'index.json');
  const index = fs.existsSync(indexFile) ? JSON.parse(fs.readFileSync(indexFile, 'utf8')) : {};
  for (const name of names) {
    if (!MAKERS[name]) throw new Error(`unknown set ${name}`);
    const set = MAKERS[name]();
    const fam = family(name);
    fs.writeFileSync(path.join(outDir, `${name}.txt`), set.cidrs.join('\n'));
    fs.writeFileSync(path.join(outDir, `${name}.values.bin`), Buffer.from(set.values.buffer));
    const addrs = fam === 4 ? addresses4(set.cidrs, 1 << 20) : addresses6(set.cidrs, 1 << 20);
    fs.writeFileSync(path.join(outDir, `${name}.addrs.bin`), Buffer.from(addrs.buffer));
    const hist = {};
    for (const c of set.cidrs) {
      const l = c.slice(c.indexOf('/') + 1);
      hist[l] = (hist[l] || 0) + 1;
    }
    index[name] = { family: fam, count: set.cidrs.length, source: set.source, lengths: hist };
  }
  fs.writeFileSync(indexFile, JSON.stringify(index, null, 2));
  return index;
}

module.exports = {
  CACHE,
  rng,
  synthetic4,
  synthetic6,
  clustered4,
  clustered6,
  realSets,
  allSets,
  addresses4,
  addresses6,
  rangeToCidrs,
  writeAll,
  family,
  ip4,
  ip6,
};

if (require.main === module) {
  const t0 = Date.now();
  const index = writeAll();
  for (const [name, s] of Object.entries(index)) {
    console.log(`${name.padEnd(10)} ${String(s.count).padStart(8)} prefixes  ${s.source}`);
  }
  console.log(`written to ${path.join(CACHE, 'route')} in ${Date.now() - t0} ms`);
}
