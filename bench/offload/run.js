#!/usr/bin/env node
'use strict';
// Offload benchmark (issue #7): what IFF_VNET_HDR segmentation offloads and
// multi-queue buy, each trial in a fresh process in its own network
// namespace (trial.js), repetitions interleaved, every figure also a median
// of per-repetition ratios to a baseline of the same repetition:
//   udp-drain   UDP payload in 1400-byte segments drained from the kernel's
//               queue: js-split and js-super against js-plain (the batch
//               path without offloads), against c-gso (a C read() loop with
//               the same offloads), and c-gso against c-plain
//   tcp-bridge  a TCP transfer between two namespaces joined only by two TUN
//               devices and a bridge between them (C or ours): Gbit/s, the
//               bridge's CPU, and our send path's bytes/s (time inside
//               trySendPackets), offloads against none
//   mq-drain    64-byte packets over 256 flows drained by 1 and 2 worker
//               threads, one queue each (IFF_MULTI_QUEUE)
//
//   node bench/offload/run.js [--reps N] [--quick] [--only udp,tcp,mq] [--rt] [--json FILE]
// --rt runs each trial SCHED_FIFO (chrt -f 20): on a shared machine other
// tenants' work otherwise takes the second core that multi-queue needs.
// Needs root (CAP_NET_ADMIN, unshare, nsenter) and a C compiler.
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { option, progress: report, median, metrics, writeResults } = require('../common');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const reps = Number(option(argv, '--reps', quick ? 3 : 5));
const only = option(argv, '--only', 'udp,tcp,mq').split(',');
const rt = argv.includes('--rt');

if (process.getuid() !== 0) {
  console.error(
    'bench/offload: needs root (it creates TUN devices in its own network namespaces).',
  );
  process.exit(2);
}
if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('bench/offload: build first (npm install).');
  process.exit(2);
}

const bin = path.join(root, 'bench', 'bin', 'gsobench');
fs.mkdirSync(path.dirname(bin), { recursive: true });
execFileSync('cc', ['-O2', '-Wall', '-o', bin, path.join(__dirname, 'gsobench.c')], {
  stdio: 'inherit',
});

function trial(...args) {
  const cmd = ['unshare', '--net', '--', process.execPath, path.join(__dirname, 'trial.js')];
  if (rt) cmd.unshift('chrt', '-f', '20');
  const r = spawnSync(cmd[0], [...cmd.slice(1), ...args.map(String)], {
    encoding: 'utf8',
    timeout: 120000,
  });
  if (r.status !== 0) {
    console.error(`trial ${args.join(' ')} failed: ${r.stderr || r.error}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const IMPLS = ['c-plain', 'c-gso', 'js-plain', 'js-split', 'js-super'];
const results = { reps, rt, udp: {}, tcp: {}, mq: {} };
const total =
  reps *
  ((only.includes('udp') ? 5 : 0) + (only.includes('tcp') ? 5 : 0) + (only.includes('mq') ? 2 : 0));
let done = 0;
const progress = (what) => report(done++, total, what);

for (let rep = 0; rep < reps; rep++) {
  if (only.includes('udp')) {
    for (const impl of IMPLS) {
      progress(`udp-drain ${impl}`);
      // Offloads drain ~8x faster: 8x the volume keeps the drain long
      // enough (~70 ms) that a late wake-up on a busy machine is noise.
      const mb = (quick ? 32 : 64) * (/gso|split|super/.test(impl) ? 8 : 1);
      const r = trial('udp-drain', impl, mb);
      (results.udp[impl] ??= []).push(r && { wall: r.payload / r.seconds, cpu: r.payload / r.cpu });
    }
  }
  if (only.includes('tcp')) {
    for (const impl of IMPLS) {
      progress(`tcp-bridge ${impl}`);
      const r = trial('tcp-bridge', impl, quick ? 128 : 256);
      (results.tcp[impl] ??= []).push(r);
    }
  }
  if (only.includes('mq')) {
    for (const q of [1, 2]) {
      progress(`mq-drain ${q} queue(s)`);
      const r = trial('mq-drain', q, quick ? 200000 : 350000);
      (results.mq[q] ??= []).push(r && r.pps);
    }
  }
}
report(total, total, 'done');

/** Median of per-repetition ratios a[i] / b[i]. */
const ratio = (a, b) => median(a.map((x, i) => (x && b[i] ? x / b[i] : NaN)));
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const rows = [];
const summary = {};

if (only.includes('udp')) {
  const pick = (impl, k) => results.udp[impl].map((r) => (r ? r[k] : NaN));
  const u = Object.fromEntries(IMPLS.map((i) => [i, pick(i, 'wall')]));
  const c = Object.fromEntries(IMPLS.map((i) => [i, pick(i, 'cpu')]));
  console.log(
    '\nUDP drain, 1400-byte segments: payload GB/s of wall time and GB per CPU-second of the reader' +
      ' (medians; ratios: median of per-rep ratios)',
  );
  console.log('| implementation | GB/s | x js-plain | x c-gso | GB/CPU-s | x js-plain | x c-gso |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const impl of IMPLS) {
    const row = {
      impl,
      gbs: median(u[impl]) / 1e9,
      vsPlain: ratio(u[impl], u['js-plain']),
      vsCGso: ratio(u[impl], u['c-gso']),
      gbCpu: median(c[impl]) / 1e9,
      cpuVsPlain: ratio(c[impl], c['js-plain']),
      cpuVsCGso: ratio(c[impl], c['c-gso']),
    };
    rows.push({ suite: 'udp-drain', ...row });
    console.log(
      `| ${impl} | ${fmt(row.gbs)} | ${fmt(row.vsPlain)} | ${fmt(row.vsCGso)} | ${fmt(row.gbCpu)} | ${fmt(row.cpuVsPlain)} | ${fmt(row.cpuVsCGso)} |`,
    );
  }
  summary.udpSplitVsPlainCpu = ratio(c['js-split'], c['js-plain']);
  summary.udpSuperVsCGsoCpu = ratio(c['js-super'], c['c-gso']);
  summary.udpSplitVsPlain = ratio(u['js-split'], u['js-plain']);
  summary.udpSuperVsPlain = ratio(u['js-super'], u['js-plain']);
  summary.udpSuperVsCGso = ratio(u['js-super'], u['c-gso']);
  summary.udpSplitVsCGso = ratio(u['js-split'], u['c-gso']);
  summary.udpCGsoVsCPlain = ratio(u['c-gso'], u['c-plain']);
}

if (only.includes('tcp')) {
  const t = results.tcp;
  const col = (impl, f) => t[impl].map((r) => (r ? f(r) : NaN));
  console.log(
    '\nTCP through two bridged TUN devices (Gbit/s, bridge CPU in cores, send path GB/s)',
  );
  console.log(
    '| bridge | Gbit/s | x js-plain | x c-gso | bridge CPU | send path GB/s | x js-plain |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  const gbps = Object.fromEntries(IMPLS.map((i) => [i, col(i, (r) => r.gbps)]));
  const send = Object.fromEntries(IMPLS.map((i) => [i, col(i, (r) => r.sendBytesPerSec ?? NaN)]));
  for (const impl of IMPLS) {
    const row = {
      impl,
      gbps: median(gbps[impl]),
      vsPlain: ratio(gbps[impl], gbps['js-plain']),
      vsCGso: ratio(gbps[impl], gbps['c-gso']),
      cpu: median(col(impl, (r) => r.bridgeCpu)),
      sendGBs: median(send[impl]) / 1e9,
      sendVsPlain: ratio(send[impl], send['js-plain']),
    };
    rows.push({ suite: 'tcp-bridge', ...row });
    console.log(
      `| ${impl} | ${fmt(row.gbps)} | ${fmt(row.vsPlain)} | ${fmt(row.vsCGso)} | ${fmt(row.cpu)} | ${fmt(row.sendGBs)} | ${fmt(row.sendVsPlain)} |`,
    );
  }
  summary.tcpSplitVsPlain = ratio(gbps['js-split'], gbps['js-plain']);
  summary.tcpSuperVsPlain = ratio(gbps['js-super'], gbps['js-plain']);
  summary.tcpSuperVsCGso = ratio(gbps['js-super'], gbps['c-gso']);
  summary.tcpSendCoalesceVsPlain = ratio(send['js-split'], send['js-plain']);
}

if (only.includes('mq')) {
  const m = results.mq;
  console.log('\nMulti-queue drain, 64-byte packets over 256 flows (Mpps)');
  console.log('| queues (workers) | Mpps | x 1 queue |');
  console.log('|---|---:|---:|');
  for (const q of [1, 2]) {
    const row = { queues: q, mpps: median(m[q]) / 1e6, vsOne: ratio(m[q], m[1]) };
    rows.push({ suite: 'mq-drain', ...row });
    console.log(`| ${q} | ${fmt(row.mpps)} | ${fmt(row.vsOne)} |`);
  }
  summary.mq2VsMq1 = ratio(m[2], m[1]);
}

console.log(
  '\nsummary:',
  JSON.stringify(summary, (k, v) => (typeof v === 'number' ? +v.toFixed(3) : v)),
);
// The harness's common shape (bench/common.js metrics): every trial with
// its group, implementation, repetition, value and CPU per unit of work.
const trials = [];
for (const impl of IMPLS) {
  (results.udp[impl] ?? []).forEach((r, rep) =>
    trials.push({
      group: 'udp-drain',
      impl,
      rep,
      value: r?.wall ?? NaN,
      cost: r ? 1 / r.cpu : NaN,
    }),
  );
  (results.tcp[impl] ?? []).forEach((r, rep) =>
    trials.push({
      group: 'tcp-bridge',
      impl,
      rep,
      value: r ? (r.gbps * 1e9) / 8 : NaN,
      cost: r ? (r.bridgeCpu * r.seconds) / r.bytes : NaN,
    }),
  );
}
for (const q of [1, 2]) {
  (results.mq[q] ?? []).forEach((pps, rep) =>
    trials.push({ group: 'mq-drain', impl: `mq${q}`, rep, value: pps ?? NaN, cost: NaN }),
  );
}
writeResults(
  'offload',
  {
    reps,
    quick,
    summary,
    rows,
    metrics: metrics('offload', trials, {
      unit: 'bytes/s (mq-drain: packets/s)',
      higherIsBetter: true,
      baselineOf: (g) => (g === 'mq-drain' ? 'mq1' : 'js-plain'),
      peerOf: (g) => (g === 'mq-drain' ? null : 'c-gso'),
      roleOf: (i) => (/^c-/.test(i) ? 'baseline' : 'ours'),
    }),
    raw: results,
  },
  option(argv, '--json'),
);
