'use strict';
// Route-table benchmark: RouteTable against the npm peers, every trial in a
// fresh process, a table of figures with ratios to the fastest peer, and
// JSON in bench/results/. Also runs the C++ benchmark of the core and its
// alternatives (bench/route/native_bench.cc) when g++ is there.
//
//   node bench/route/run.js [--sets=syn4_1m,real4,...] [--reps=3] [--no-native] [--quick]
//                           [--peers=arkime-iptrie,...] [--json=FILE]
//   node bench/route/run.js --from=bench/results/route-<date>.json  (print again)
//
// Needs: the release addon (node-gyp rebuild), the peers as devDependencies
// (longest-prefix-match, arkime-iptrie, cidr-matcher). Data comes from the
// registry (npm pack, into bench/.cache/, git-ignored) and a generator; see
// data.js.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const { option, progress, metrics, writeResults, pkg } = require('../common');

const ROOT = path.join(__dirname, '..', '..');
const CACHE = path.join(ROOT, 'bench', '.cache');
const args = process.argv.slice(2);
const opt = (name, dflt) => option(args, `--${name}`, dflt);
const quick = args.includes('--quick');
// Trials per implementation and set; each figure is the best of them (the
// machines are shared: a neighbour's burst only ever slows a trial down).
const REPS = Number(opt('reps', quick ? '1' : '3'));
const SETS = opt('sets', 'syn4_10k,real4,syn4_1m,real6,syn6_700k,srv4_1m,srv6_700k').split(',');
const PEERS = opt('peers', 'longest-prefix-match,arkime-iptrie,cidr-matcher').split(',');
// --paired (bench:check): only the paired trials (trial.js `paired`): our
// figures and arkime-iptrie's measured in turn within one process.
const PAIRED = args.includes('--paired');
// The peer every ratio of the harness is taken to (the fastest npm trie,
// native like ours); the table below compares with whichever is fastest.
const BASELINE_PEER = 'arkime-iptrie';
// cidr-matcher scans linearly: past this many prefixes a run takes minutes.
const CIDR_MATCHER_MAX = 200000;

function step(msg) {
  process.stderr.write(`${msg}\n`);
}

// --- prerequisites ----------------------------------------------------------

function ensureData() {
  const file = path.join(CACHE, 'route', 'index.json');
  const index = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  const missing = SETS.filter((s) => !index[s]);
  if (missing.length) {
    step(`generating prefix sets ${missing.join(', ')} (bench/route/data.js)...`);
    require('./data').writeAll(undefined, missing);
  }
}

function ensureCompiledLib() {
  // bench:check's reference build comes compiled.
  if (pkg !== ROOT) return path.join(pkg, 'dist');
  const out = path.join(CACHE, 'dist');
  step('compiling lib/ for the trials...');
  spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', out],
    { cwd: ROOT, stdio: 'ignore' },
  );
  if (!fs.existsSync(path.join(out, 'route', 'index.js'))) {
    throw new Error('could not compile lib/route (tsc)');
  }
  return out;
}

// arkime-iptrie is a native addon that the install skipped (--ignore-scripts):
// build a copy of it in the cache with npm's own node-gyp.
function ensureArkime() {
  const src = path.dirname(require.resolve('arkime-iptrie/package.json'));
  const dst = path.join(CACHE, 'arkime-iptrie');
  if (fs.existsSync(path.join(dst, 'build', 'Release', 'iptrie.node'))) return dst;
  fs.cpSync(src, dst, { recursive: true });
  const npmDir = path.dirname(
    path.dirname(fs.realpathSync(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim())),
  );
  const gyp = path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  step('building arkime-iptrie (node-gyp)...');
  execFileSync(
    process.execPath,
    [gyp, 'rebuild', `--nodedir=${path.dirname(path.dirname(process.execPath))}`],
    {
      cwd: dst,
      stdio: 'ignore',
    },
  );
  return dst;
}

// The addon the package loads: build/Release/, else the prebuild (npm run
// prebuild moves the release build into prebuilds/).
function addonPath() {
  if (process.env.VPN_PROVIDER_ADDON) return process.env.VPN_PROVIDER_ADDON;
  try {
    return require('node-gyp-build').path(ROOT);
  } catch {
    throw new Error('no addon in build/Release/ or prebuilds/: run node-gyp rebuild');
  }
}

// --- trials -----------------------------------------------------------------

function trial(impl, set, env) {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', path.join(__dirname, 'trial.js'), impl, set],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      maxBuffer: 1 << 24,
      timeout: 15 * 60 * 1000,
    },
  );
  const line = (r.stdout || '').trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    return {
      impl,
      set,
      error: (r.stderr || r.error || 'no output').toString().trim().split('\n').slice(-3).join(' '),
    };
  }
}

// Best of several trials: the lowest time of each figure.
function best(trials) {
  const ok = trials.filter((t) => !t.error);
  if (ok.length === 0) return trials[0];
  const out = JSON.parse(JSON.stringify(ok[0]));
  const walk = (dst, srcs) => {
    for (const k of Object.keys(dst)) {
      const vals = srcs.map((s) => s && s[k]);
      if (typeof dst[k] === 'number' && /ns|Ms$|meanNs/i.test(k)) {
        dst[k] = Math.min(...vals.filter((v) => typeof v === 'number'));
      } else if (dst[k] && typeof dst[k] === 'object') {
        walk(dst[k], vals);
      }
    }
  };
  walk(out, ok);
  out.trials = ok.length;
  return out;
}

function nativeBench(sets) {
  const bin = path.join(ROOT, 'bench', 'bin', 'route');
  try {
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    step('compiling the C++ benchmark (g++ -O3)...');
    execFileSync(
      'g++',
      [
        '-O3',
        '-std=c++17',
        '-Inative',
        'bench/route/native_bench.cc',
        'native/route/cidr.cc',
        'native/route/route_table.cc',
        '-pthread',
        '-o',
        bin,
      ],
      { cwd: ROOT, stdio: 'ignore' },
    );
  } catch {
    step('no g++: skipping the C++ benchmark');
    return [];
  }
  const rows = [];
  if (sets.some((s) => s.startsWith('srv'))) {
    // The figures of a server's table are read against this machine's
    // memory floor: a dependent load that misses every cache, alone and 16
    // at a time (MemoryFloor in native_bench.cc). Best of REPS.
    step('C++ benchmark: the memory floor');
    const floor = new Map();
    for (let k = 0; k < REPS; k++) {
      const r = spawnSync(bin, ['--memory'], { cwd: ROOT, encoding: 'utf8' });
      for (const line of r.stdout.split('\n').filter((l) => l.startsWith('{'))) {
        const row = JSON.parse(line);
        const prev = floor.get(row.what);
        if (!prev || row.ns < prev.ns) floor.set(row.what, row);
      }
    }
    rows.push(...floor.values());
  }
  for (const s of sets) {
    step(`C++ benchmark: ${s}`);
    // Best of REPS runs, figure by figure.
    const byKey = new Map();
    for (let k = 0; k < REPS; k++) {
      const r = spawnSync(bin, [s], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
      for (const line of r.stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const row = JSON.parse(line);
        const key = `${row.set}|${row.structure}|${row.what || ''}`;
        const prev = byKey.get(key);
        byKey.set(key, prev ? best([prev, row]) : row);
      }
    }
    rows.push(...byKey.values());
  }
  return rows;
}

// --- report -----------------------------------------------------------------

const fmtNs = (x) =>
  x === undefined ? '-' : x >= 1000 ? `${(x / 1000).toFixed(2)} µs` : `${x.toFixed(1)} ns`;
const fmtRate = (ns) => (ns === undefined ? '-' : `${(1e3 / ns).toFixed(ns < 100 ? 0 : 1)} M/s`);
const ratio = (peer, ours) =>
  peer && ours ? `${(peer / ours).toFixed(peer / ours >= 100 ? 0 : 1)}x` : '-';

function table(results) {
  const lines = [];
  for (const set of [...new Set(results.map((r) => r.set))]) {
    const rs = results.filter((r) => r.set === set);
    const ours = rs.find((r) => r.impl === 'ours');
    const peers = rs.filter((r) => r.impl !== 'ours' && !r.error && !r.skipped);
    const fastest = peers.reduce(
      (a, b) => (!a || b.lookupString.ns < a.lookupString.ns ? b : a),
      null,
    );
    const fastestBuild = peers.reduce((a, b) => (!a || b.buildMs < a.buildMs ? b : a), null);
    lines.push('');
    lines.push(`### ${set}: ${rs[0].prefixes} IPv${rs[0].family} prefixes`);
    lines.push('');
    lines.push(
      '| implementation | per address | lookups/s | vs fastest peer | build | bytes/prefix |',
    );
    lines.push('|---|---:|---:|---:|---:|---:|');
    if (ours && !ours.error) {
      const row = (what, m) =>
        lines.push(
          `| RouteTable ${what} | ${fmtNs(m.ns)} | ${fmtRate(m.ns)} | ${ratio(fastest?.lookupString.ns, m.ns)} | | |`,
        );
      for (const n of [1, 16, 256, 4096])
        row(`lookupBatch${ours.family} (${n}/call)`, ours.batch[n]);
      row('classify (256 packets/call)', ours.classify256);
      if (ours.lookupNumber) row('lookup(number)', ours.lookupNumber);
      row('lookup(string)', ours.lookupString);
      lines.push(
        `| RouteTable build from strings: from() / fromAsync() (max loop stall) | | | ${ratio(fastestBuild?.buildMs, ours.buildMs)} | ${ours.buildMs.toFixed(0)} ms / ${ours.buildAsyncMs.toFixed(0)} ms (${ours.buildAsyncMaxLoopStallMs.toFixed(1)} ms) | ${ours.bytesPerPrefix.toFixed(2)} (+${ours.controlBytesPerPrefix.toFixed(0)} control) |`,
      );
      if (ours.insertOneByOneMs !== undefined) {
        lines.push(
          `| RouteTable insert() one by one, then the first lookup | | | | ${ours.insertOneByOneMs.toFixed(0)} ms + ${ours.firstLookupAfterMs.toFixed(1)} ms | |`,
        );
      }
      if (ours.buildAsyncTextMs !== undefined) {
        lines.push(
          `| RouteTable build from text (a Buffer): from() / fromAsync() (max loop stall) | | | ${ratio(fastestBuild?.buildMs, ours.buildAsyncTextMs)} | ${ours.buildTextMs.toFixed(0)} ms / ${ours.buildAsyncTextMs.toFixed(0)} ms (${ours.buildAsyncTextMaxLoopStallMs.toFixed(1)} ms) | |`,
        );
      }
    } else if (ours) {
      lines.push(`| RouteTable | error: ${ours.error} | | | | |`);
    }
    for (const p of rs.filter((r) => r.impl !== 'ours')) {
      if (p.error || p.skipped) {
        lines.push(`| ${p.impl} | ${p.skipped || `error: ${p.error}`} | | | | |`);
        continue;
      }
      lines.push(
        `| ${p.impl} lookup(string) | ${fmtNs(p.lookupString.ns)} | ${fmtRate(p.lookupString.ns)} | ${ratio(fastest.lookupString.ns, p.lookupString.ns)} | ${p.buildMs.toFixed(0)} ms | ~${p.heapBytesPerPrefix.toFixed(0)} (JS heap) |`,
      );
    }
  }
  return lines.join('\n');
}

function nativeTable(native) {
  const lines = [];
  lines.push(
    '| set | structure | single | batch 16 | batch 256 | batch 4096 | build | bytes/prefix |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
  const key = (r) => `${r.set}|${r.structure}`;
  const groups = new Map();
  for (const r of native.filter(
    (x) => x.what && x.structure !== 'updates' && x.structure !== 'memory',
  )) {
    if (!groups.has(key(r))) groups.set(key(r), {});
    groups.get(key(r))[r.what] = r;
  }
  for (const [k, g] of groups) {
    const [set, structure] = k.split('|');
    const any = Object.values(g)[0];
    const f = (w) => (g[w] ? g[w].ns.toFixed(1) : '-');
    lines.push(
      `| ${set} | ${structure} | ${f('single')} | ${f('batch16')} | ${f('batch256')} | ${f('batch4096')} | ${any.buildMs.toFixed(0)} ms | ${any.bytesPerPrefix.toFixed(2)} |`,
    );
  }
  const floor = Object.fromEntries(
    native.filter((x) => x.structure === 'memory').map((x) => [x.what, x.ns]),
  );
  if (floor['dram-latency']) {
    lines.push(
      `\nThis machine's memory floor: a load that misses every cache takes ${floor['dram-latency'].toFixed(0)} ns alone, ${floor['dram-16-chases'].toFixed(1)} ns each with 16 in flight (dependent loads over 1 GiB).`,
    );
  }
  const updates = native.filter((x) => x.structure === 'updates');
  if (updates.length) {
    lines.push('\nWhat a change costs (µs, the change and the next lookup, which applies it):\n');
    lines.push('| set | change | µs |');
    lines.push('|---|---|---:|');
    for (const r of updates) lines.push(`| ${r.set} | ${r.what} | ${r.us.toFixed(1)} |`);
  }
  for (const r of native.filter((x) => x.structure === 'build-parts')) {
    lines.push(
      `\n${r.set}: insertMany ${r.insertManyMs.toFixed(0)} ms = parse ${r.parseMs.toFixed(0)} + sort ${r.sortMs.toFixed(0)} + control-plane trie ${r.patriciaMs.toFixed(0)} + Poptrie ${r.poptrieMs.toFixed(0)} ms (+ copies)`,
    );
  }
  return lines.join('\n');
}

function print(saved) {
  const paired = (saved.metrics ?? []).filter((m) => m.group.endsWith(' paired'));
  if (paired.length) {
    console.log('\npaired with arkime-iptrie lookup(string) in one process (median of rounds):\n');
    console.log('| set | figure | ns/address | × arkime-iptrie (speed) | × arkime-iptrie (CPU) |');
    console.log('|---|---|---:|---:|---:|');
    for (const m of paired) {
      console.log(
        `| ${m.group} | ${m.impl} | ${m.value.toFixed(1)} | ${m.ratio.toFixed(2)} | ${m.cpuRatio.toFixed(2)} |`,
      );
    }
  }
  const rest = saved.results.filter((r) => r.impl !== 'paired');
  if (!rest.length) return;
  console.log(table(rest));
  if (saved.native.length) {
    console.log('\nC++ core and alternatives (ns per lookup, build ms, bytes/prefix):\n');
    console.log(nativeTable(saved.native));
  }
}

function main() {
  const from = opt('from', null);
  if (from) {
    print(JSON.parse(fs.readFileSync(from, 'utf8')));
    return;
  }
  ensureData();
  const index = JSON.parse(fs.readFileSync(path.join(CACHE, 'route', 'index.json'), 'utf8'));
  const dist = ensureCompiledLib();
  const env = { VPN_PROVIDER_ADDON: addonPath(), BENCH_MAX_TIME: quick ? '0.2' : '0.6' };
  let arkime = null;
  try {
    arkime = ensureArkime();
  } catch (e) {
    step(`arkime-iptrie unavailable: ${e.message}`);
  }
  const results = [];
  const impls = PAIRED ? ['paired'] : ['ours', ...PEERS];
  let done = 0;
  const total = SETS.length * impls.length * REPS;
  // Repetitions interleave the implementations, so that trial k of each ran
  // side by side (the harness's ratios pair them).
  for (const set of SETS) {
    if (!index[set]) throw new Error(`unknown set ${set}`);
    const runs = new Map();
    for (let k = 0; k < REPS; k++) {
      for (const impl of impls) {
        if (impl === 'cidr-matcher' && index[set].count > CIDR_MATCHER_MAX) continue;
        if ((impl === 'arkime-iptrie' || impl === 'paired') && !arkime) continue;
        if (k === 0) step(`trial: ${impl} on ${set}`);
        progress(done++, total, `${impl} ${set}`);
        const r = trial(impl, set, { ...env, ARKIME_IPTRIE: arkime || '', ROUTE_DIST: dist });
        if (!runs.has(impl)) runs.set(impl, []);
        runs.get(impl).push(r);
      }
    }
    for (const impl of impls) {
      if (impl === 'cidr-matcher' && index[set].count > CIDR_MATCHER_MAX) {
        results.push({
          impl,
          set,
          skipped: `skipped: linear scan, > ${CIDR_MATCHER_MAX} prefixes`,
        });
        continue;
      }
      if (!runs.has(impl)) continue;
      const r = best(runs.get(impl));
      r.prefixes ??= index[set].count;
      r.family ??= index[set].family;
      r.runs = runs.get(impl);
      results.push(r);
    }
  }
  progress(total, total, 'done');
  const native = args.includes('--no-native') ? [] : nativeBench(SETS);
  const cpu = require('node:os').cpus()[0]?.model;
  const saved = { node: process.version, cpu, sets: index, results, native };
  saved.metrics = routeMetrics(results);
  print(saved);
  writeResults('route', saved, opt('json', undefined));
  step('(print again: --from=<file>)');
}

// The harness's view: per set, each of our figures and each peer's
// lookup(string), in ns per address (the median over the trials of each
// one's best cycle), with ratios to arkime-iptrie's lookup(string) in the
// same repetition; and the builds, to its build.
function routeMetrics(results) {
  const trials = [];
  const add = (group, impl, rep, m, params) =>
    m?.ns !== undefined &&
    trials.push({ group, impl, rep, value: m.ns, cost: m.cpuNs / 1e9, params });
  for (const res of results) {
    if (res.error || res.skipped) continue;
    if (res.impl === 'paired') {
      // rep: trial, round and figure, so each figure pairs with its own
      // arkime-iptrie measurement.
      (res.runs ?? [res]).forEach((r, k) =>
        (r.rounds ?? []).forEach((round, j) => {
          for (const [figure, m] of Object.entries(round)) {
            const rep = `${k}.${j}.${figure}`;
            add(`${res.set} paired`, figure, rep, m.ours, { set: res.set });
            add(`${res.set} paired`, 'arkime-iptrie', rep, m['arkime-iptrie'], { set: res.set });
          }
        }),
      );
      continue;
    }
    const params = { set: res.set, prefixes: res.prefixes, family: res.family };
    (res.runs ?? [res]).forEach((r, rep) => {
      if (r.error) return;
      if (r.impl === 'ours') {
        for (const n of [1, 16, 256, 4096]) {
          add(res.set, `lookupBatch${res.family} ${n}/call`, rep, r.batch[n], {
            ...params,
            batch: n,
          });
        }
        add(res.set, 'classify 256/call', rep, r.classify256, { ...params, batch: 256 });
        add(res.set, 'lookup(number)', rep, r.lookupNumber, { ...params, batch: 1 });
        add(res.set, 'lookup(string)', rep, r.lookupString, { ...params, batch: 1 });
        add(`${res.set} build`, 'RouteTable.from', rep, { ns: r.buildMs }, params);
      } else {
        add(res.set, r.impl, rep, r.lookupString, { ...params, batch: 1 });
        add(`${res.set} build`, r.impl, rep, { ns: r.buildMs }, params);
      }
    });
  }
  const opts = (unit) => ({
    unit,
    higherIsBetter: false,
    baselineOf: () => BASELINE_PEER,
    roleOf: (i) => (PEERS.includes(i) ? 'peer' : 'ours'),
  });
  return [
    ...metrics(
      'route',
      trials.filter((t) => !t.group.endsWith(' build')),
      opts('ns/address'),
    ),
    ...metrics(
      'route',
      trials.filter((t) => t.group.endsWith(' build')),
      opts('ms'),
    ),
  ];
}

main();
