#!/usr/bin/env node
'use strict';
// UDP socket benchmark: the package's UdpSocket against plain C loops with
// the same offloads (recvmmsg + UDP_GRO, sendmmsg + UDP_SEGMENT) and
// against Node's dgram, 1400-byte datagrams over loopback, each trial in a
// fresh process in a network namespace of its own (trial.js), repetitions
// interleaved, every ratio a median of per-repetition ratios:
//   recv  a C flooder sends for a while; the receiver's datagrams per
//         second and per CPU-second: c-gro, c-plain, js-gro, js-plain, dgram
//   send  COUNT datagrams to a C sink: c-gso, c-plain, js-gso (sendDatagrams
//         of 256 views), js-from (sendFrom of a 256-datagram batch),
//         js-plain (without UDP_SEGMENT), dgram
//
//   node bench/udp/run.js [--reps N] [--quick] [--only recv,send] [--json FILE]
// Needs root (unshare) and a C compiler.
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { option, progress: report, median, metrics, writeResults } = require('../common');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const reps = Number(option(argv, '--reps', quick ? 3 : 5));
const only = option(argv, '--only', 'recv,send').split(',');

if (process.getuid() !== 0) {
  console.error('bench/udp: needs root (each trial runs in a network namespace of its own).');
  process.exit(2);
}
if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('bench/udp: build first (npm install).');
  process.exit(2);
}

const bin = path.join(root, 'bench', 'bin', 'udpbench');
fs.mkdirSync(path.dirname(bin), { recursive: true });
execFileSync('cc', ['-O2', '-Wall', '-o', bin, path.join(__dirname, 'udpbench.c')], {
  stdio: 'inherit',
});

function trial(...args) {
  const r = spawnSync(
    'unshare',
    ['--net', '--', process.execPath, path.join(__dirname, 'trial.js'), ...args.map(String)],
    { encoding: 'utf8', timeout: 120000 },
  );
  if (r.status !== 0) {
    console.error(`trial ${args.join(' ')} failed: ${r.stderr || r.error}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const RECV = ['c-gro', 'js-gro', 'c-plain', 'js-plain', 'dgram'];
const SEND = ['c-gso', 'js-from', 'js-gso', 'c-plain', 'js-plain', 'dgram'];
const results = { recv: {}, send: {} };
const total =
  reps * ((only.includes('recv') ? RECV.length : 0) + (only.includes('send') ? SEND.length : 0));
let done = 0;
for (let rep = 0; rep < reps; rep++) {
  if (only.includes('recv')) {
    for (const impl of RECV) {
      report(done++, total, `recv ${impl}`);
      (results.recv[impl] ??= []).push(trial('recv', impl, quick ? 1 : 2));
    }
  }
  if (only.includes('send')) {
    for (const impl of SEND) {
      report(done++, total, `send ${impl}`);
      // The per-datagram paths are ~5-10x slower: a fifth of the volume.
      const count = (quick ? 1e6 : 3e6) / (/plain|dgram/.test(impl) ? 5 : 1);
      (results.send[impl] ??= []).push(trial('send', impl, count));
    }
  }
}
report(total, total, 'done');

const ratio = (a, b) => median(a.map((x, i) => (x && b[i] ? x / b[i] : NaN)));
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const summary = {};
const rows = [];
const trials = [];

function table(kind, impls, baseline) {
  const r = results[kind];
  const rate = Object.fromEntries(
    impls.map((i) => [i, r[i].map((t) => (t ? t.datagrams / t.seconds : NaN))]),
  );
  const perCpu = Object.fromEntries(
    impls.map((i) => [i, r[i].map((t) => (t ? t.datagrams / t.cpu : NaN))]),
  );
  console.log(
    `\n${kind === 'recv' ? 'Receive' : 'Send'}, 1400-byte datagrams over loopback: datagrams/s and per CPU-second of the ${kind === 'recv' ? 'receiver' : 'sender'}` +
      ` (medians; ratios: median of per-repetition ratios)`,
  );
  console.log(
    `| implementation | Mdatagrams/s | x ${baseline} | M per CPU-s | x ${baseline} | x dgram (CPU) |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const impl of impls) {
    const row = {
      kind,
      impl,
      rate: median(rate[impl]),
      vsC: ratio(rate[impl], rate[baseline]),
      perCpu: median(perCpu[impl]),
      cpuVsC: ratio(perCpu[impl], perCpu[baseline]),
      cpuVsDgram: ratio(perCpu[impl], perCpu.dgram),
    };
    rows.push(row);
    console.log(
      `| ${impl} | ${fmt(row.rate / 1e6)} | ${fmt(row.vsC)} | ${fmt(row.perCpu / 1e6)} | ${fmt(row.cpuVsC)} | ${fmt(row.cpuVsDgram, 1)} |`,
    );
    r[impl].forEach((t, rep) =>
      trials.push({
        group: kind,
        impl,
        rep,
        value: t ? t.datagrams / t.seconds : NaN,
        cost: t ? t.cpu / t.datagrams : NaN,
      }),
    );
  }
  return { rate, perCpu };
}

if (only.includes('recv')) {
  const { rate, perCpu } = table('recv', RECV, 'c-gro');
  summary.recvVsC = ratio(rate['js-gro'], rate['c-gro']);
  summary.recvCpuVsC = ratio(perCpu['js-gro'], perCpu['c-gro']);
  summary.recvVsDgram = ratio(rate['js-gro'], rate.dgram);
  summary.recvCpuVsDgram = ratio(perCpu['js-gro'], perCpu.dgram);
}
if (only.includes('send')) {
  const { rate, perCpu } = table('send', SEND, 'c-gso');
  summary.sendFromVsC = ratio(rate['js-from'], rate['c-gso']);
  summary.sendFromCpuVsC = ratio(perCpu['js-from'], perCpu['c-gso']);
  summary.sendArrayVsC = ratio(rate['js-gso'], rate['c-gso']);
  summary.sendFromVsDgram = ratio(rate['js-from'], rate.dgram);
  summary.sendFromCpuVsDgram = ratio(perCpu['js-from'], perCpu.dgram);
}
console.log(
  '\nsummary:',
  JSON.stringify(summary, (k, v) => (typeof v === 'number' ? +v.toFixed(3) : v)),
);
writeResults(
  'udp',
  {
    reps,
    quick,
    summary,
    rows,
    metrics: metrics('udp', trials, {
      unit: 'datagrams/s',
      higherIsBetter: true,
      baselineOf: (g) => (g === 'recv' ? 'c-gro' : 'c-gso'),
      peerOf: () => 'dgram',
      roleOf: (i) => (/^c-/.test(i) ? 'baseline' : i === 'dgram' ? 'peer' : 'ours'),
    }),
    raw: results,
  },
  option(argv, '--json'),
);
