#!/usr/bin/env node
'use strict';
// End-to-end tunnel benchmark: the demo (scripts/demo.js: two network
// namespaces joined by a veth pair, a bulk TCP transfer through the tunnel
// with wire-size datagrams), a fresh process and fresh namespaces per
// trial, implementations interleaved in each repetition:
//   udp-socket  examples/server.js and examples/client.js (the package)
//   c-relay     bench/tunnel/relay.cc at both ends: the same job (TUN with
//               offloads, UDP_SEGMENT / UDP_GRO, the same header and MTU)
//               without JS or N-API
//   dgram       the same tunnel with Node's dgram for the UDP side
//   direct      the same transfer straight over the veth pair (no tunnel)
// Figures: Gbit/s (a 2-core machine shares its cores between the tunnel
// and the TCP endpoints, so it compresses the ratios) and the tunnel's CPU
// per Gbit/s (client and server processes): the limit of each design.
//   node bench/tunnel/run.js [--reps N] [--seconds S] [--no-offload] [--json FILE]
// Needs root (network namespaces, TUN devices) and g++.
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { option, progress, median, metrics, writeResults, pkg } = require('../common');
const argv = process.argv.slice(2);
const reps = Number(option(argv, '--reps', 3));
const seconds = Number(option(argv, '--seconds', 4));
const noOffload = argv.includes('--no-offload');
// The demo and examples of the package measured (the reference build's own).
const demo = path.join(pkg, 'scripts', 'demo.js');

if (process.getuid() !== 0) {
  console.error('bench/tunnel: needs root (it creates network namespaces and TUN devices).');
  process.exit(2);
}

const relay = path.join(root, 'bench', 'bin', 'relay');
fs.mkdirSync(path.dirname(relay), { recursive: true });
execFileSync(
  'g++',
  [
    '-std=c++17',
    '-O2',
    '-Wall',
    '-I',
    path.join(root, 'native'),
    '-o',
    relay,
    path.join(__dirname, 'relay.cc'),
    path.join(root, 'native', 'tun', 'offload.cc'),
    path.join(root, 'native', 'tun', 'tun.cc'),
  ],
  { stdio: 'inherit' },
);

const IMPLS = { 'udp-socket': [], 'c-relay': ['--c-relay'], dgram: ['--dgram'] };

function trial(flags) {
  const r = spawnSync(
    process.execPath,
    [demo, '--json', ...flags, ...(noOffload ? ['--no-offload'] : [])],
    {
      env: { ...process.env, DEMO_SECONDS: String(seconds) },
      encoding: 'utf8',
      timeout: (seconds * 2 + 60) * 1000,
    },
  );
  try {
    if (r.status !== 0) throw new Error();
    return JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop() };
  }
}

const names = [...Object.keys(IMPLS), 'direct'];
const runs = Object.fromEntries(names.map((n) => [n, []]));
const total = reps * Object.keys(IMPLS).length;
let done = 0;
for (let rep = 0; rep < reps; rep++) {
  for (const [impl, flags] of Object.entries(IMPLS)) {
    progress(done++, total, `${impl} ${rep + 1}/${reps}`);
    // The direct transfer rides along with the package's trial.
    const r = trial(impl === 'udp-socket' ? [...flags, '--direct'] : flags);
    runs[impl].push(r.error ? null : r.tunnel);
    if (impl === 'udp-socket') runs.direct.push(r.error ? null : r.direct);
    if (r.error) console.error(`\n${impl}: ${r.error}`);
  }
}
progress(total, total, 'done');

const gbit = (m) => (m ? m.mbit / 1000 : NaN);
const cpuPerGbit = (m) => (m ? (m.cpu.client + m.cpu.server) / (m.mbit / 1000) : NaN);
const ratio = (a, b) => median(a.map((x, i) => (x && b[i] ? x / b[i] : NaN)));
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const col = (impl, f) => runs[impl].map((m) => (m ? f(m) : NaN));

console.log(
  `\nbulk TCP through the demo tunnel, wire-size datagrams, TUN offloads ${noOffload ? 'off' : 'on'}` +
    ` (median of ${reps}; ratios: median of per-repetition ratios)`,
);
console.log(
  '| tunnel | Gbit/s | x udp-socket | cores per Gbit/s (client + server) | client | server | IP fragments |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|');
const summary = {};
for (const impl of Object.keys(IMPLS)) {
  const g = col(impl, gbit);
  const c = col(impl, cpuPerGbit);
  console.log(
    `| ${impl} | ${fmt(median(g))} | ${fmt(ratio(g, col('udp-socket', gbit)))} | ${fmt(median(c), 3)} | ` +
      `${fmt(median(col(impl, (m) => m.cpu.client / (m.mbit / 1000))), 3)} | ` +
      `${fmt(median(col(impl, (m) => m.cpu.server / (m.mbit / 1000))), 3)} | ` +
      `${median(col(impl, (m) => m.fragments))} |`,
  );
}
console.log(`| direct (veth, no tunnel) | ${fmt(median(col('direct', gbit)))} | | | | | |`);
const g = Object.fromEntries(names.map((n) => [n, col(n, gbit)]));
const c = Object.fromEntries(Object.keys(IMPLS).map((n) => [n, col(n, cpuPerGbit)]));
summary.vsDgram = ratio(g['udp-socket'], g.dgram);
summary.vsCRelay = ratio(g['udp-socket'], g['c-relay']);
summary.cpuVsDgram = ratio(c.dgram, c['udp-socket']);
summary.cpuVsCRelay = ratio(c['c-relay'], c['udp-socket']);
summary.fragments = Object.keys(IMPLS).reduce(
  (n, impl) => n + col(impl, (m) => m.fragments).reduce((a, b) => a + (b || 0), 0),
  0,
);
console.log(
  '\nsummary:',
  JSON.stringify(summary, (k, v) => (typeof v === 'number' ? +v.toFixed(3) : v)),
);

const trials = [];
for (const impl of names) {
  runs[impl].forEach((m, rep) =>
    trials.push({
      group: 'tcp',
      impl,
      rep,
      value: m ? m.mbit : NaN,
      // CPU seconds of the tunnel's two processes per byte moved.
      cost:
        m && m.cpu
          ? (m.cpu.client + m.cpu.server) / ((m.mbit * 1e6) / 8)
          : m
            ? m.cpuPerMB / 1e6
            : NaN,
      params: { seconds, offload: !noOffload },
    }),
  );
}
writeResults(
  'tunnel',
  {
    reps,
    seconds,
    offload: !noOffload,
    summary,
    runs,
    metrics: metrics('tunnel', trials, {
      unit: 'Mbit/s',
      higherIsBetter: true,
      baselineOf: () => 'c-relay',
      peerOf: () => 'dgram',
      roleOf: (i) => (i === 'udp-socket' ? 'ours' : i === 'dgram' ? 'peer' : 'baseline'),
    }),
  },
  option(argv, '--json'),
);
process.exit(runs['udp-socket'].some(Boolean) ? 0 : 1);
