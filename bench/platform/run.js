#!/usr/bin/env node
'use strict';
// Platform benchmark: time from connect to the first packet through the
// tunnel with 100 routes, and time to apply 100k routes, each against doing
// the same configuration with `ip` (a spawn per command, and one `ip -batch`).
// Each trial runs in a fresh process inside its own network namespace; the
// median of --reps trials is reported, with ratios to the `ip` baselines.
//   node bench/platform/run.js [--reps N] [--json FILE]
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const { option, progress, median, metrics, writeResults } = require('../common');
const argv = process.argv.slice(2);
const opt = (name, dflt) => option(argv, name, dflt);
const reps = Number(opt('--reps', 5));

if (process.getuid() !== 0) {
  console.error(
    'bench/platform: needs root (it creates TUN devices inside its own network namespaces).',
  );
  process.exit(2);
}

function trial(mode, n) {
  const r = spawnSync(
    'unshare',
    ['--net', '--', process.execPath, path.join(__dirname, 'trial.js'), mode, String(n)],
    {
      encoding: 'utf8',
      timeout: 120000,
    },
  );
  if (r.status !== 0) return { error: (r.stderr || `exit ${r.status}`).trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const plan = [
  ['ours-connect', 100],
  ['ip-spawn', 100],
  ['ip-batch', 100],
  ['ours-apply', 100000],
  ['ip-batch', 100000],
];
const results = {};
const trials = [];
for (let rep = 0; rep < reps; rep++) {
  for (const [mode, n] of plan) {
    const key = `${mode} ${n}`;
    progress(trials.length, reps * plan.length, `${rep + 1}/${reps} ${key}`);
    const r = trial(mode, n);
    (results[key] ??= []).push(r);
    trials.push({
      group: n === 100 ? 'connect 100 routes' : `apply ${n} routes`,
      impl: mode,
      rep,
      value: r.ms,
      // CPU per run, only where 10 ms ticks resolve it (ip's 100 routes take ~5 ms).
      cost: n >= 10000 ? r.cpuMs / 1000 : undefined,
      params: { routes: n },
    });
  }
}
progress(trials.length, trials.length, 'done');

const rows = plan.map(([mode, n]) => {
  const rs = results[`${mode} ${n}`];
  return {
    mode,
    routes: n,
    ms: median(rs.map((r) => r.ms)),
    errors: rs.filter((r) => r.error).map((r) => r.error),
  };
});
const get = (mode, n) => rows.find((r) => r.mode === mode && r.routes === n).ms;
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(`\nplatform, median of ${reps} trials (a fresh process and namespace each)`);
console.log('| what | routes | ms | × ip spawns | × ip -batch |');
console.log('|------|-------:|---:|------------:|------------:|');
for (const r of rows) {
  const spawnBase = r.routes === 100 ? get('ip-spawn', 100) : NaN;
  const batchBase = get('ip-batch', r.routes);
  console.log(
    `| ${r.mode} | ${r.routes} | ${fmt(r.ms)} | ${fmt(spawnBase / r.ms, 2)} | ${fmt(batchBase / r.ms, 2)} |`,
  );
  for (const e of r.errors) console.log(`    error: ${e}`);
}
console.log(
  '(ours-connect includes the first packet through the tunnel; the ip rows do the configuration only.)',
);
writeResults(
  'platform',
  {
    reps,
    rows,
    metrics: metrics('platform', trials, {
      unit: 'ms',
      higherIsBetter: false,
      baselineOf: () => 'ip-batch',
      roleOf: (m) => (m.startsWith('ip-') ? 'baseline' : 'ours'),
    }),
  },
  opt('--json'),
);
