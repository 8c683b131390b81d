'use strict';
// The benchmark harness: runs suites (each runs every trial in a fresh
// process), draws one progress bar over their trials, and gathers the
// metrics they report (bench/common.js `metrics`: one shape for every suite)
// into one result: bench/results/<date>.json, a Markdown table beside it,
// and the SVG chart (bench/chart.js). bench/run.js (`npm run bench`) and
// bench/check.js (`npm run bench:check`) are its two commands.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const resultsDir = path.join(root, 'bench', 'results');

// Each suite with its arguments for a full run (`npm run bench`) and for the
// short run that `npm run bench:check` gates on (a few minutes in all on a
// 2-core machine: several short trials each, medians).
const SUITES = {
  packet: {
    script: 'packet/run.js',
    root: true,
    full: ['--batches', '1,4,16,64,256'],
    check: [
      '--quick',
      '--reps',
      '7',
      '--no-peer',
      '--impls',
      'vpn-batch,vpn-surface,vpn-packet,vpn-single',
    ],
  },
  platform: { script: 'platform/run.js', root: true, full: [], check: ['--reps', '5'] },
  route: {
    script: 'route/run.js',
    root: false,
    full: [],
    // syn4_10k: a table in cache; srv4_1m: a server's (a value per prefix,
    // 14 MB, lookups that miss the caches).
    check: [
      '--sets',
      'syn4_10k,srv4_1m',
      '--reps',
      '2',
      '--no-native',
      '--peers',
      'arkime-iptrie',
      '--paired',
    ],
  },
  tunnel: {
    script: 'tunnel/run.js',
    root: true,
    full: ['--reps', '5', '--seconds', '5'],
    check: ['--reps', '3', '--seconds', '2'],
  },
  // Offloads and multi-queue.
  offload: {
    script: 'offload/run.js',
    root: true,
    full: ['--reps', '5'],
    check: ['--quick', '--reps', '3'],
  },
  // The UDP socket alone against C loops with the same offloads and dgram.
  udp: { script: 'udp/run.js', root: true, full: ['--reps', '5'], check: null },
  // Batch AEAD against a C loop; a WireGuard tunnel, ours against
  // wireguard-go's (needs wireguard-go, wireguard-tools, iperf3, libssl-dev).
  wireguard: { script: 'wireguard/run.js', root: true, full: ['--reps', '3'], check: null },
};

function machine() {
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    kernel: os.release(),
    node: process.version,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}

const stamp = (d) => d.toISOString().replace(/[:.]/g, '-');

function elapsed(ms) {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** One bar over the trials of every suite, on a terminal; lines otherwise. */
function bar(names) {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  return {
    update(i, name, p) {
      const w = 30;
      const f = Math.round((p.done / Math.max(1, p.total)) * w);
      const line =
        `[${'#'.repeat(f)}${'.'.repeat(w - f)}] suite ${i + 1}/${names.length} ${name}: ` +
        `trial ${Math.min(p.done + 1, p.total)}/${p.total} ${p.label} (${elapsed(Date.now() - t0)})`;
      if (tty) process.stderr.write(`\r\x1b[2K${line.slice(0, process.stderr.columns - 1)}`);
    },
    end(i, name, status, trials) {
      const line = `suite ${i + 1}/${names.length} ${name}: ${status}, ${trials} trials (${elapsed(Date.now() - t0)})`;
      if (tty) process.stderr.write(`\r\x1b[2K`);
      process.stderr.write(`${line}\n`);
    },
  };
}

/** Runs one suite; its output goes to `log`, its progress to the bar. */
function runSuite(name, args, log, onProgress) {
  const suite = SUITES[name];
  const json = path.join(os.tmpdir(), `vpn-bench-${process.pid}-${name}.json`);
  fs.rmSync(json, { force: true });
  fs.appendFileSync(log, `\n=== bench/${suite.script} ${args.join(' ')}\n`);
  const out = fs.openSync(log, 'a');
  return new Promise((resolve) => {
    const c = spawn(
      process.execPath,
      [path.join(__dirname, suite.script), ...args, '--json', json],
      {
        cwd: root,
        stdio: ['ignore', out, out, 'pipe'],
        env: { ...process.env, BENCH_PROGRESS_FD: '3' },
      },
    );
    fs.closeSync(out);
    let trials = 0;
    let buf = '';
    c.stdio[3].on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const p = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        trials = p.total;
        onProgress(p);
      }
    });
    c.on('close', (code) => {
      let data = null;
      try {
        data = JSON.parse(fs.readFileSync(json, 'utf8'));
        fs.rmSync(json);
      } catch {
        data = null;
      }
      resolve({ code, data, trials });
    });
  });
}

/**
 * Runs the named suites with the profile's arguments (`full` or `check`)
 * plus `extra`. Returns { date, machine, command, suites: { name: data },
 * metrics, failed: [names] } and writes it to bench/results/<prefix><date>.json
 * (and .log with every suite's output).
 */
async function runSuites(names, profile, { extra = [], prefix = '', command = '' } = {}) {
  const date = new Date();
  fs.mkdirSync(resultsDir, { recursive: true });
  const base = path.join(resultsDir, `${prefix}${stamp(date)}`);
  const log = `${base}.log`;
  fs.writeFileSync(log, `${command}\n`);
  const isRoot = process.getuid() === 0;
  const b = bar(names);
  const result = { date: date.toISOString(), machine: machine(), command, profile, suites: {} };
  const failed = [];
  for (const [i, name] of names.entries()) {
    const suite = SUITES[name];
    if (!suite) throw new Error(`unknown suite ${name} (${Object.keys(SUITES).join(', ')})`);
    if (suite.root && !isRoot) {
      b.end(i, name, 'skipped: needs root (network namespaces, TUN devices)', 0);
      failed.push(name);
      continue;
    }
    const r = await runSuite(name, [...suite[profile], ...extra], log, (p) => b.update(i, name, p));
    b.end(i, name, r.code === 0 && r.data ? 'done' : `failed (exit ${r.code})`, r.trials);
    if (r.data) result.suites[name] = r.data;
    if (r.code !== 0 || !r.data) failed.push(name);
  }
  result.metrics = Object.values(result.suites).flatMap((s) => s.metrics ?? []);
  result.failed = failed;
  fs.writeFileSync(`${base}.json`, JSON.stringify(result, null, 2) + '\n');
  if (failed.length) {
    process.stderr.write(
      `failed: ${failed.join(', ')}; their output: ${path.relative(root, log)}\n`,
    );
  }
  return { result, base };
}

const fmtValue = (v, unit) => {
  if (!Number.isFinite(v)) return '-';
  if (unit === 'packets/s') return `${(v / 1e3).toFixed(0)}k`;
  if (v >= 1000) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
};
const fmtRatio = (r) => (Number.isFinite(r) ? (r >= 100 ? r.toFixed(0) : r.toFixed(2)) : '-');

/** The Markdown report of a result: one table per suite. */
function markdown(result) {
  const m = result.machine;
  const lines = [
    `# Benchmarks, ${result.date}`,
    '',
    `Machine: ${m.cpus} × ${m.model}, ${m.memoryGiB ?? '?'} GiB, Linux ${m.kernel}, Node ${m.node}.`,
    `Command: \`${result.command}\`.`,
    '',
    'value: the median over repetitions (route: of the best cycle of each trial). × baseline:',
    'against a baseline measured in the same run, the median of per-repetition ratios, > 1 is',
    'faster than the baseline whatever the unit: speed (from the value) and CPU (the CPU time',
    'charged per unit of work, which a busy neighbour moves far less). Ratios compare across machines.',
  ];
  for (const suite of Object.keys(result.suites)) {
    const ms = result.metrics.filter((x) => x.suite === suite);
    lines.push('', `## ${suite}`, '');
    lines.push(
      '| workload | implementation | role | value | unit | × baseline: speed | CPU | baseline | × peer |',
    );
    lines.push('| --- | --- | --- | ---: | --- | ---: | ---: | --- | ---: |');
    for (const x of ms) {
      lines.push(
        `| ${x.group} | ${x.impl} | ${x.role} | ${fmtValue(x.value, x.unit)} | ${x.unit} | ${fmtRatio(x.ratio)} | ${fmtRatio(x.cpuRatio)} | ${x.baseline} | ${x.peer ? `${fmtRatio(x.peerRatio)} (${x.peer})` : ''} |`,
      );
    }
  }
  return lines.join('\n') + '\n';
}

module.exports = { SUITES, root, resultsDir, runSuites, markdown, machine, fmtRatio };
