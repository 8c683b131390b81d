#!/usr/bin/env node
'use strict';
// End-to-end tunnel benchmark: the demo (scripts/demo.js: examples/server.js
// and examples/client.js in two network namespaces joined by a veth pair),
// a fresh process and fresh namespaces per trial. Each trial measures a UDP
// echo and a bulk TCP transfer through the tunnel, then the same straight
// over the veth pair (the kernel's own path, no tunnel): the baseline of the
// same trial.
//   node bench/tunnel/run.js [--reps N] [--seconds S] [--json FILE]
// Needs root (network namespaces, TUN devices).
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const { option, progress, median, metrics, writeResults } = require('../common');
const argv = process.argv.slice(2);
const reps = Number(option(argv, '--reps', 3));
const seconds = Number(option(argv, '--seconds', 3));
const demo = path.join(__dirname, '..', '..', 'scripts', 'demo.js');

if (process.getuid() !== 0) {
  console.error('bench/tunnel: needs root (it creates network namespaces and TUN devices).');
  process.exit(2);
}

function trial() {
  const r = spawnSync(process.execPath, [demo, '--json', '--direct'], {
    env: { ...process.env, DEMO_SECONDS: String(seconds) },
    encoding: 'utf8',
    timeout: (seconds * 2 + 60) * 1000,
  });
  try {
    if (r.status !== 0) throw new Error();
    return JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop() };
  }
}

const runs = [];
for (let rep = 0; rep < reps; rep++) {
  progress(rep, reps, `demo ${rep + 1}/${reps}`);
  runs.push(trial());
}
progress(reps, reps, 'done');

const trials = [];
runs.forEach((r, rep) => {
  for (const [impl, m] of [
    ['vpn-tunnel', r.tunnel],
    ['veth-direct', r.direct],
  ]) {
    trials.push({
      group: 'tcp',
      impl,
      rep,
      value: m?.mbit,
      cost: m?.cpuPerMB / 1e6, // CPU seconds per byte
      params: { seconds },
    });
    trials.push({ group: 'udp echo', impl, rep, value: m?.rttMs, params: {} });
  }
});
const opts = {
  baselineOf: () => 'veth-direct',
  roleOf: (i) => (i === 'veth-direct' ? 'baseline' : 'ours'),
};
const ms = [
  ...metrics(
    'tunnel',
    trials.filter((t) => t.group === 'tcp'),
    { ...opts, unit: 'Mbit/s', higherIsBetter: true },
  ),
  ...metrics(
    'tunnel',
    trials.filter((t) => t.group === 'udp echo'),
    { ...opts, unit: 'ms', higherIsBetter: false },
  ),
];
const ok = runs.filter((r) => !r.error);
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(`\ntunnel (the demo), median of ${ok.length}/${reps} trials of ${seconds} s`);
console.log('| what | tunnel | direct (veth) | tunnel / direct |');
console.log('|------|-------:|--------------:|----------------:|');
for (const group of ['tcp', 'udp echo']) {
  const t = ms.find((m) => m.group === group && m.impl === 'vpn-tunnel');
  const d = ms.find((m) => m.group === group && m.impl === 'veth-direct');
  const unit = t.unit;
  console.log(
    `| ${group === 'tcp' ? 'bulk TCP' : 'UDP echo round trip'} | ${fmt(t.value)} ${unit} | ${fmt(d.value)} ${unit} | ${fmt(t.ratio, 3)} |`,
  );
}
const perMB = (side) => median(ok.map((r) => r[side].cpuPerMB * 1e3));
console.log(
  `CPU per MB moved (every process on the path): tunnel ${fmt(perMB('tunnel'), 1)} ms, direct ${fmt(perMB('direct'), 2)} ms`,
);
const pps = median(ok.map((r) => r.tunnel.pps));
const cpu = (side) => median(ok.map((r) => r.tunnel.cpu[side] * 100));
console.log(
  `tunnel: ${fmt(pps / 1e3, 0)}k packets/s through the server's device; CPU client ${fmt(cpu('client'), 0)}%, server ${fmt(cpu('server'), 0)}% of a core`,
);
for (const r of runs.filter((x) => x.error)) console.log(`    error: ${r.error}`);
writeResults('tunnel', { reps, seconds, runs, metrics: ms }, option(argv, '--json'));
process.exit(ok.length ? 0 : 1);
