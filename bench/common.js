'use strict';
// What the bench suites share: options, the median, where results go, and a
// platform with one configuration for trials that go through the surface.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
// The package the suites measure: this checkout, or (VPN_BENCH_PACKAGE, set
// by bench:check for its reference build) another built checkout, measured
// by these same bench scripts and C baselines. Its addon: VPN_PROVIDER_ADDON.
const pkg = process.env.VPN_BENCH_PACKAGE ? path.resolve(process.env.VPN_BENCH_PACKAGE) : root;

/** --name value or --name=value from argv; dflt when absent. */
function option(argv, name, dflt) {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`${name}=`));
  return eq ? eq.slice(name.length + 1) : dflt;
}

/**
 * Progress over a suite's trials. Under `npm run bench` (BENCH_PROGRESS_FD
 * set) it goes to the harness, which draws one bar over every suite; on a
 * terminal otherwise, as a bar of the suite's own.
 */
function progress(done, total, label) {
  const fd = Number(process.env.BENCH_PROGRESS_FD);
  if (fd) {
    fs.writeSync(fd, JSON.stringify({ done, total, label }) + '\n');
    return;
  }
  if (!process.stderr.isTTY) return;
  const w = 30;
  const f = Math.round((done / total) * w);
  process.stderr.write(
    `\r[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${done}/${total} ${label.padEnd(28)}`,
  );
  if (done === total) process.stderr.write('\n');
}

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length & 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Metrics in the shape every suite reports and the harness aggregates,
 * charts and checks (bench/harness.js), from one entry per trial:
 *   { group, impl, rep, value, cost, params }
 * group: the workload (trials in one group are comparable); rep: the
 * repetition, so that a ratio compares trials that ran side by side; cost
 * (optional): CPU seconds the trial's processes used per unit of work.
 * opts: unit, higherIsBetter (of value), baselineOf(group) and optionally
 * peerOf(group) (an impl of the same group), roleOf(impl): 'ours' |
 * 'baseline' | 'peer'.
 * Per (group, impl): value is the median over repetitions; ratio the median
 * of the per-repetition ratios of its speed to the baseline's (speed: value,
 * or 1/value when lower is better), so ratio > 1 is faster than the
 * baseline whatever the unit; samples are those per-repetition ratios.
 * cpuRatio: the same with CPU cost (the baseline's cost / ours), which a
 * busy neighbour on a shared machine moves far less than wall time (it
 * takes the core away, but is not charged to us): the gate uses it.
 */
function metrics(suite, trials, opts) {
  const speed = (v) => (opts.higherIsBetter ? v : 1 / v);
  const ok = trials.filter((t) => Number.isFinite(t.value) && t.value > 0);
  const keys = new Map();
  for (const t of trials) keys.set(`${t.group}\u0000${t.impl}`, t);
  const out = [];
  for (const first of keys.values()) {
    const { group, impl } = first;
    const mine = ok.filter((t) => t.group === group && t.impl === impl);
    const ratios = (other) =>
      mine
        .map((t) => {
          const b = ok.find((x) => x.group === group && x.impl === other && x.rep === t.rep);
          return b ? speed(t.value) / speed(b.value) : NaN;
        })
        .filter(Number.isFinite);
    const baseline = opts.baselineOf(group);
    const peer = opts.peerOf?.(group) ?? null;
    const samples = ratios(baseline);
    const costRatios = mine
      .map((t) => {
        const b = ok.find((x) => x.group === group && x.impl === baseline && x.rep === t.rep);
        return b && t.cost > 0 && b.cost > 0 ? b.cost / t.cost : NaN;
      })
      .filter(Number.isFinite);
    const hasPeer = peer && ok.some((t) => t.group === group && t.impl === peer);
    out.push({
      id: `${suite} ${group} ${impl}`,
      suite,
      group,
      impl,
      role: opts.roleOf ? opts.roleOf(impl) : impl === baseline ? 'baseline' : 'ours',
      value: median(mine.map((t) => t.value)),
      unit: opts.unit,
      higherIsBetter: opts.higherIsBetter,
      trials: mine.length,
      failed: trials.filter((t) => t.group === group && t.impl === impl).length - mine.length,
      baseline,
      ratio: median(samples),
      samples,
      cost: median(mine.map((t) => t.cost)),
      cpuRatio: median(costRatios),
      cpuSamples: costRatios,
      peer: hasPeer ? peer : null,
      peerRatio: hasPeer ? median(ratios(peer)) : null,
      params: first.params ?? {},
    });
  }
  return out;
}

/**
 * Writes { suite, date, machine, ...data } to `file` (default
 * bench/results/<suite>-<date>.json) and says where.
 */
function writeResults(suite, data, file) {
  const date = new Date().toISOString();
  const out = {
    suite,
    date,
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      kernel: os.release(),
      node: process.version,
    },
    ...data,
  };
  const target =
    file ?? path.join(root, 'bench', 'results', `${suite}-${date.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), target)}`);
}

/**
 * A platform in a temporary state directory (no DNS, no control socket)
 * with provider "bench" and its configuration "c"; close() removes it all.
 */
async function benchPlatform() {
  const { createPlatform } = require(path.join(pkg, 'dist'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-bench-'));
  const platform = createPlatform({
    stateDir: dir,
    dns: false,
    controlSocket: false,
    log: () => {},
  });
  const vpn = platform.provider('bench');
  await vpn.createConfig('c');
  return {
    platform,
    vpn,
    close: async () => {
      await platform.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { option, progress, median, metrics, writeResults, benchPlatform, pkg };
