#!/usr/bin/env node
'use strict';
// npm run bench:check: the performance gate. Runs the short version of the
// suites (bench/harness.js, profile `check`: several short trials each, a
// few minutes on 2 cores), then compares each gated metric's ratio to its
// same-run baseline (the C loop, ip -batch, arkime-iptrie, the bare veth)
// with bench/baseline.json, within that metric's tolerance. The ratio is of
// CPU cost per unit of work where the suite measures it (baseline's / ours),
// else of speed: on a shared machine a neighbour steals wall time from a
// trial, and the CPU it is charged moves far less (measured: 1-11% between
// runs against 24-79% for packets/s). Prints
// metric, baseline, now, verdict; exits 1 on a regression beyond tolerance
// (or a gated metric that is missing), 0 otherwise, 2 on a usage error.
//
//   npm run bench:check [-- --only packet,route] [--baseline FILE]
//   npm run bench:check -- --from bench/results/check-<date>.json[,more]
//   npm run bench:check -- --update [--repeat N | --from a.json,b.json,...]
//   npm run bench:check -- --spread a.json,b.json,...
// --update writes the baseline: each metric's ratio is the median over the
// runs, its tolerance is taken from their spread (see tolerance()).
const fs = require('node:fs');
const path = require('node:path');
const { option, median } = require('./common');
const { SUITES, runSuites, fmtRatio } = require('./harness');

const BASELINE = path.join(__dirname, 'baseline.json');
// Below this spread, tolerances still leave room for a machine's bad minute.
const MIN_TOLERANCE = 0.15;
// Metrics noisier than this across runs are reported, not gated.
const MAX_TOLERANCE = 0.5;
// Metrics whose ratio moved between separate runs by more than the spread
// of the runs that made the baseline: reported, never gated, with the
// reason, until they have a steadier baseline.
const UNSTEADY = [
  {
    match: /^route /,
    why: "arkime-iptrie's lookup(string) moves between separate runs more than the five check runs showed (180-280 ns at 10k prefixes, ours 3.3-3.4 ns a batched address): lookupBatch4 256/call measured 55x and 84x",
  },
];

/** Every metric of ours (not the baselines and peers themselves) with a ratio. */
const gateable = (metrics) =>
  metrics.filter((m) => m.role === 'ours' && Number.isFinite(m.ratio) && m.ratio > 0);

// What a metric is gated on: its CPU-cost ratio where the suite measures CPU
// (it moves far less with a neighbour's load), else its ratio of speeds.
const on = (m) => (Number.isFinite(m.cpuRatio) && m.cpuRatio > 0 ? 'cpuRatio' : 'ratio');

/**
 * Tolerance from the relative deviations of runs from their median: twice
 * the largest seen plus 5 points, rounded up to 5 points, at least
 * MIN_TOLERANCE. (A run a little worse than the worst seen still passes; a
 * lasting loss of more than that fails.)
 */
function tolerance(spread) {
  return Math.max(MIN_TOLERANCE, Math.ceil((2 * spread + 0.05) * 20 - 1e-9) / 20);
}

/** Per metric over several runs: median ratio, spread, min, max. */
function spreadOf(runs) {
  const byId = new Map();
  for (const run of runs) {
    for (const m of gateable(run.metrics)) {
      if (!byId.has(m.id)) byId.set(m.id, []);
      byId.get(m.id).push(m);
    }
  }
  const out = {};
  for (const [id, ms] of byId) {
    // CPU ratios only when every run has them.
    const field = ms.every((m) => on(m) === 'cpuRatio') ? 'cpuRatio' : 'ratio';
    const rs = ms.map((m) => m[field]);
    const med = median(rs);
    const spread = Math.max(...rs.map((r) => Math.abs(r - med) / med));
    out[id] = {
      on: field,
      ratio: med,
      spread,
      min: Math.min(...rs),
      max: Math.max(...rs),
      runs: rs.length,
    };
  }
  return out;
}

/** A baseline file's content from several runs of the check. */
function makeBaseline(runs, previous) {
  const s = spreadOf(runs);
  const metrics = {};
  const reportedOnly = {};
  for (const [id, x] of Object.entries(s)) {
    const tol =
      runs.length > 1 ? tolerance(x.spread) : (previous?.metrics?.[id]?.tolerance ?? 0.25);
    const entry = { on: x.on, ratio: round(x.ratio), tolerance: tol, spread: round(x.spread) };
    const unsteady = UNSTEADY.find((u) => u.match.test(id));
    if (unsteady) reportedOnly[id] = { ...entry, why: unsteady.why };
    else if (tol > MAX_TOLERANCE || x.runs < runs.length) reportedOnly[id] = entry;
    else metrics[id] = entry;
  }
  const first = runs[0];
  return {
    about:
      'Ratios of ours to a baseline measured in the same run (npm run bench:check), with the tolerance of each: a run below ratio × (1 - tolerance) fails. Refresh: npm run bench:check -- --update --repeat 5',
    made: {
      date: first.date,
      machine: first.machine,
      runs: runs.length,
    },
    metrics,
    tooNoisyToGate: reportedOnly,
  };
}

const round = (x) => Math.round(x * 1e4) / 1e4;

/**
 * Compares a run's metrics with a baseline. Returns rows { id, baseline,
 * now, change, tolerance, verdict } and whether the run passes.
 * verdict: ok | better (beyond tolerance: refresh the baseline) |
 * REGRESSION (below ratio × (1 - tolerance)) | MISSING (not in the run) |
 * not gated (in tooNoisyToGate: shown, never fails).
 */
function compare(baseline, metrics, suites = null) {
  const now = new Map(metrics.map((m) => [m.id, m]));
  const rows = [];
  const entries = [
    ...Object.entries(baseline.metrics),
    ...Object.entries(baseline.tooNoisyToGate ?? {}).map(([id, b]) => [id, { ...b, report: true }]),
  ];
  for (const [id, b] of entries) {
    const suite = id.split(' ')[0];
    if (suites && !suites.includes(suite)) continue;
    const m = now.get(id);
    const field = b.on ?? 'ratio';
    const r = m && Number.isFinite(m[field]) ? m[field] : NaN;
    let verdict;
    if (b.report) verdict = 'not gated';
    else if (!Number.isFinite(r)) verdict = 'MISSING';
    else if (r < b.ratio * (1 - b.tolerance)) verdict = 'REGRESSION';
    else if (r > b.ratio * (1 + b.tolerance)) verdict = 'better';
    else verdict = 'ok';
    rows.push({
      id,
      on: field === 'cpuRatio' ? 'CPU' : 'speed',
      against: m?.baseline ?? '',
      baseline: b.ratio,
      now: r,
      change: r / b.ratio - 1,
      tolerance: b.tolerance,
      verdict,
    });
  }
  const passing = ['ok', 'better', 'not gated'];
  return { rows, pass: rows.every((r) => passing.includes(r.verdict)) };
}

function table(rows) {
  const pct = (x) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(0)}%` : '-');
  const lines = [
    '| metric | ratio of | to (same run) | baseline | now | change | tolerance | verdict |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.id} | ${r.on} | ${r.against} | ${fmtRatio(r.baseline)} | ${fmtRatio(r.now)} | ${pct(r.change)} | ±${(r.tolerance * 100).toFixed(0)}% | ${r.verdict} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const argv = process.argv.slice(2);
  const from = option(argv, '--from', null)?.split(',');
  const spread = option(argv, '--spread', null)?.split(',');
  const only = option(argv, '--only', null)?.split(',');
  const update = argv.includes('--update');
  const repeat = Number(option(argv, '--repeat', 1));
  const baselineFile = option(argv, '--baseline', BASELINE);
  // Suites without a check profile are not gated (yet): see SUITES.
  const names = only ?? Object.keys(SUITES).filter((n) => SUITES[n].check);
  if (names.some((n) => !SUITES[n]?.check) || !(repeat >= 1)) {
    console.error(`bench:check: --only takes ${Object.keys(SUITES).join(',')}; --repeat a count`);
    return 2;
  }
  const read = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));

  if (spread) {
    const s = spreadOf(spread.map(read));
    console.log(
      '| metric | ratio of | runs | median ratio | min | max | spread | tolerance it gives |',
    );
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [id, x] of Object.entries(s)) {
      console.log(
        `| ${id} | ${x.on === 'cpuRatio' ? 'CPU' : 'speed'} | ${x.runs} | ${fmtRatio(x.ratio)} | ${fmtRatio(x.min)} | ${fmtRatio(x.max)} | ±${(x.spread * 100).toFixed(1)}% | ±${(tolerance(x.spread) * 100).toFixed(0)}% |`,
      );
    }
    return 0;
  }

  let runs;
  if (from) {
    runs = from.map(read);
  } else {
    runs = [];
    const command = ['npm run bench:check', ...(argv.length ? ['--', ...argv] : [])].join(' ');
    for (let k = 0; k < repeat; k++) {
      if (repeat > 1) console.error(`check run ${k + 1}/${repeat}`);
      const { result, base } = await runSuites(names, 'check', { prefix: 'check-', command });
      console.error(`wrote ${path.relative(process.cwd(), base)}.json`);
      runs.push(result);
    }
  }
  const failedSuites = [...new Set(runs.flatMap((r) => r.failed ?? []))];

  if (update) {
    if (failedSuites.length) {
      console.error(`bench:check: not updating the baseline: ${failedSuites.join(', ')} failed`);
      return 1;
    }
    const previous = fs.existsSync(baselineFile) ? read(baselineFile) : null;
    const b = makeBaseline(runs, previous);
    if (only && previous) {
      // Metrics of the suites that did not run keep their entries.
      const keep = (entries) =>
        Object.fromEntries(
          Object.entries(entries ?? {}).filter(([id]) => !only.includes(id.split(' ')[0])),
        );
      b.metrics = { ...keep(previous.metrics), ...b.metrics };
      b.tooNoisyToGate = { ...keep(previous.tooNoisyToGate), ...b.tooNoisyToGate };
      const when = { date: b.made.date, runs: runs.length };
      b.made = {
        ...previous.made,
        updated: { ...previous.made.updated, ...Object.fromEntries(only.map((n) => [n, when])) },
      };
    }
    fs.writeFileSync(baselineFile, JSON.stringify(b, null, 2) + '\n');
    console.log(
      `wrote ${path.relative(process.cwd(), baselineFile)}: ${Object.keys(b.metrics).length} gated metrics from ${runs.length} run(s)` +
        (Object.keys(b.tooNoisyToGate).length
          ? `; too noisy to gate: ${Object.keys(b.tooNoisyToGate).join(', ')}`
          : ''),
    );
    return 0;
  }

  if (!fs.existsSync(baselineFile)) {
    console.error(
      `bench:check: no baseline ${baselineFile} (make one: npm run bench:check -- --update)`,
    );
    return 2;
  }
  const baseline = read(baselineFile);
  let pass = true;
  for (const run of runs) {
    const { rows, pass: ok } = compare(baseline, run.metrics, only);
    console.log(`\nperformance check, ${run.date} against the baseline of ${baseline.made.date}`);
    console.log(table(rows));
    pass = pass && ok;
  }
  if (failedSuites.length) console.log(`suites that failed to run: ${failedSuites.join(', ')}`);
  const bad = !pass || failedSuites.length > 0;
  console.log(bad ? '\nbench:check: FAILED' : '\nbench:check: passed');
  return bad ? 1 : 0;
}

module.exports = { compare, tolerance, spreadOf, makeBaseline };

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err.stack);
      process.exit(1);
    },
  );
}
