#!/usr/bin/env node
'use strict';
// Fuzzing: the libFuzzer targets of native/fuzz (the CIDR and address
// parser, the packet classifier, the netlink message parsers), built with
// clang under ASan + UBSan in build-fuzz/, and the setParameters validator
// (TypeScript, fuzzed from JS: test/unit/validate-fuzz.test.ts).
//
//   npm run fuzz -- [--seconds N | --runs N] [--targets cidr_fuzz,validate]
//                   [--no-merge | --merge-only] [--build-only]
//                   [--json FILE]   (the summary's rows, for npm test)
//
// For each native target, the structured seeds of scripts/fuzz-seeds.js are
// written to build-fuzz/seeds/<target>/; every input kept in
// test/fuzz/<target>/ (the minimized corpus, and the inputs of crashes found
// before: regression inputs) and every seed is run once; then the target
// fuzzes for N seconds (default 60) or N executions (--runs), starting from
// those inputs and growing build-fuzz/corpus/<target>/. Then (unless
// --no-merge, which npm test passes) the corpus kept in git is minimized
// anew with -merge=1 from the kept inputs, the seeds and what this run found:
// it grows only by inputs that reach new edges, and stays small
// (--merge-only: that alone, from what earlier runs found). A crash
// is written to test/fuzz/<target>/crash-<sha1> (the validator:
// crash-<sha1>.json), where the next run replays it: commit it with the fix.
// The validator's fuzzer takes a new seed each run (printed; VPN_FUZZ_SEED
// replays one). Ends with a table of executions, coverage (libFuzzer's cov:
// edges, ft: features) and crashes, and a non-zero status if any target
// crashed. Exits 3 when clang is missing (npm test reports a skip).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const common = require('../bench/common');
const { writeSeeds } = require('./fuzz-seeds');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const option = (name, dflt) => common.option(argv, name, dflt);
const runs = option('--runs') === undefined ? null : Number(option('--runs'));
const seconds = Number(option('--seconds', 60));
const buildOnly = argv.includes('--build-only');
const merge = !argv.includes('--no-merge');
const mergeOnly = argv.includes('--merge-only');
const buildDir = path.join(root, 'build-fuzz');
const fuzzDir = path.join(root, 'test', 'fuzz');

if (!(seconds > 0) || (runs !== null && !(runs > 0))) {
  console.error('fuzz: --seconds and --runs must be positive numbers');
  process.exit(2);
}

const nativeTargets = fs
  .readdirSync(path.join(root, 'native', 'fuzz'))
  .filter((f) => f.endsWith('_fuzz.cc'))
  .map((f) => f.slice(0, -3))
  .sort();
const allTargets = [...nativeTargets, 'validate'];
const targets = option('--targets', allTargets.join(',')).split(',');
for (const t of targets) {
  if (!allTargets.includes(t)) {
    console.error(`fuzz: no target ${t} (targets: ${allTargets.join(', ')})`);
    process.exit(2);
  }
}

function have(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

function run(cmd, args, opts = {}) {
  console.log(`> ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) {
    console.error(`fuzz: ${cmd} failed (${r.error?.message ?? `status ${r.status}`})`);
    process.exit(1);
  }
}

function build() {
  run(
    'cmake',
    [
      '-S',
      '.',
      '-B',
      buildDir,
      '-DCMAKE_BUILD_TYPE=RelWithDebInfo',
      '-DCMAKE_C_COMPILER=clang',
      '-DCMAKE_CXX_COMPILER=clang++',
      '-DVPN_FUZZ=ON',
      '-DVPN_WERROR=ON',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const wanted = targets.filter((t) => nativeTargets.includes(t));
  if (wanted.length === 0) return;
  run('cmake', [
    '--build',
    buildDir,
    '-j',
    String(Math.max(2, os.availableParallelism())),
    '--target',
    ...wanted,
  ]);
}

const crashFiles = (dir) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^(crash|leak|timeout|oom)-/.test(f)) : [];

// The environment of a fuzzer: no preload (npm test may run under one), and
// sanitizers that stop at the first finding with a stack.
function fuzzEnv() {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  env.ASAN_OPTIONS = 'abort_on_error=1:detect_leaks=1:allocator_may_return_null=1';
  const sym = symbolizer();
  if (sym) env.ASAN_OPTIONS += `:external_symbolizer_path=${sym}`;
  env.UBSAN_OPTIONS = 'halt_on_error=1:print_stacktrace=1';
  return env;
}

// What the kept inputs and the seeds must reach on their own (libFuzzer's
// -print_coverage, by function): the oracles behind the parsers, which a
// corpus of random bytes would leave unchecked. The replay fails otherwise.
const MUST_REACH = {
  // Both directions, and the window against its set.
  aead_fuzz: ['SealBatch(', 'OpenBatch(', 'WindowOracle('],
  cidr_fuzz: ['FormatPrefix4', 'FormatPrefix6', 'FormatIPv6', 'RefParseIPv6('],
  // Classify against both families' control-plane tries.
  classify_fuzz: [
    'RouteTable::Classify(',
    'Patricia<unsigned int>::Match(',
    'Patricia<unsigned __int128>::Match(',
  ],
  netlink_fuzz: ['ParseLink(', 'ParseRoute(', 'ParseRule(', 'ParseDefaultRoute(', 'CheckTable('],
  // The coalesce-then-split oracle, and splitting super-packets.
  offload_fuzz: ['SameBytesButRewritten(', 'Segment(', 'SegmentCount(', 'FinishChecksum('],
};

// -print_coverage names functions through llvm-symbolizer (Debian: llvm).
function symbolizer() {
  const dirs = ['/usr/bin', ...(process.env.PATH ?? '').split(':')];
  for (const d of dirs)
    if (fs.existsSync(path.join(d, 'llvm-symbolizer'))) return path.join(d, 'llvm-symbolizer');
  const lib = '/usr/lib';
  for (const d of fs.existsSync(lib)
    ? fs.readdirSync(lib).filter((x) => /^llvm-\d+$/.test(x))
    : []) {
    const p = path.join(lib, d, 'bin', 'llvm-symbolizer');
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/** The names in MUST_REACH[target] that no COVERED_FUNC line of the output has. */
function unreached(target, stderr) {
  const covered = stderr.split('\n').filter((l) => l.startsWith('COVERED_FUNC:'));
  return (MUST_REACH[target] ?? []).filter((f) => !covered.some((l) => l.includes(f)));
}

const isCrash = (f) => /^(crash|leak|timeout|oom)-/.test(f);

/** libFuzzer's last "cov: N ft: N" in its output. */
function coverage(stderr) {
  let cov = 0;
  let ft = 0;
  for (const m of stderr.matchAll(/\bcov: (\d+) ft: (\d+)/g)) {
    cov = Number(m[1]);
    ft = Number(m[2]);
  }
  return { cov, ft };
}

/**
 * Minimizes the kept corpus anew (-merge=1 into an empty folder) from the
 * kept inputs, the seeds and this run's corpus; crash inputs stay as they are.
 */
function mergeBack(target, bin, kept, seeds, corpus) {
  const work = path.join(buildDir, 'merge', target);
  const old = path.join(work, 'kept');
  const fresh = path.join(work, 'fresh');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(old, { recursive: true });
  fs.mkdirSync(fresh);
  for (const f of fs.readdirSync(kept)) {
    if (!isCrash(f)) fs.copyFileSync(path.join(kept, f), path.join(old, f));
  }
  const r = spawnSync(
    bin,
    // Edges only (no hit counters): a set that reaches every edge, a few
    // dozen files a target rather than hundreds.
    [
      '-merge=1',
      '-use_counters=0',
      `-merge_control_file=${path.join(work, 'control')}`,
      fresh,
      old,
      seeds,
      corpus,
    ],
    { cwd: root, env: fuzzEnv(), encoding: 'utf8', maxBuffer: 256 << 20 },
  );
  if (r.status !== 0) {
    process.stderr.write(r.stderr.slice(-4000));
    return null;
  }
  for (const f of fs.readdirSync(kept)) if (!isCrash(f)) fs.rmSync(path.join(kept, f));
  for (const f of fs.readdirSync(fresh)) fs.copyFileSync(path.join(fresh, f), path.join(kept, f));
  const files = fs.readdirSync(fresh);
  const bytes = files.reduce((n, f) => n + fs.statSync(path.join(fresh, f)).size, 0);
  return { files: files.length, bytes };
}

/** Replays the kept inputs and the seeds, then fuzzes; returns the row of the summary. */
function fuzzNative(target) {
  const bin = path.join(buildDir, target);
  const kept = path.join(fuzzDir, target);
  const corpus = path.join(buildDir, 'corpus', target);
  const seeds = path.join(buildDir, 'seeds', target);
  fs.mkdirSync(kept, { recursive: true });
  fs.mkdirSync(corpus, { recursive: true });
  writeSeeds(path.join(buildDir, 'seeds'), [target]);
  const before = new Set(crashFiles(kept));
  const inputs = fs.readdirSync(kept).length + fs.readdirSync(seeds).length;

  // Regression: each kept input and seed once (a crash input that still
  // crashes fails here); the coverage they reach on their own.
  console.log(
    `\n> [${target}] replaying ${inputs} inputs (test/fuzz/${target}/ and the seeds of scripts/fuzz-seeds.js)`,
  );
  const replay = spawnSync(bin, ['-runs=0', '-print_coverage=1', kept, seeds], {
    cwd: root,
    env: fuzzEnv(),
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  const row = { target, inputs, replayed: false, execs: 0, seconds: 0, crashes: [] };
  if (replay.status !== 0) {
    process.stderr.write(replay.stderr);
    return row;
  }
  row.replayCov = coverage(replay.stderr);
  const missed = symbolizer() ? unreached(target, replay.stderr) : [];
  if (!symbolizer()) {
    const why =
      'llvm-symbolizer is not installed (apt-get install llvm): what the inputs reach is not checked';
    if (process.env.VPN_PROVIDER_REQUIRE_PRIVILEGED === '1') {
      console.error(`[${target}] ${why}`);
      return row;
    }
    console.log(`[${target}] ${why}`);
  }
  if (missed.length) {
    console.error(`[${target}] the kept inputs and seeds no longer reach ${missed.join(', ')}`);
    return row;
  }
  row.replayed = true;

  if (mergeOnly) {
    row.kept = mergeBack(target, bin, kept, seeds, corpus);
    return row;
  }
  const budget = runs !== null ? `-runs=${runs}` : `-max_total_time=${seconds}`;
  console.log(`> [${target}] fuzzing (${runs !== null ? `${runs} executions` : `${seconds} s`})`);
  const t0 = Date.now();
  const r = spawnSync(
    bin,
    [
      budget,
      '-timeout=10',
      '-rss_limit_mb=2048',
      '-print_final_stats=1',
      `-artifact_prefix=${kept}${path.sep}`,
      corpus,
      kept,
      seeds,
    ],
    { cwd: root, env: fuzzEnv(), encoding: 'utf8', maxBuffer: 256 << 20 },
  );
  row.seconds = (Date.now() - t0) / 1000;
  const m = /stat::number_of_executed_units:\s*(\d+)/.exec(r.stderr);
  row.execs = m ? Number(m[1]) : 0;
  Object.assign(row, coverage(r.stderr));
  const crashes = crashFiles(kept).filter((f) => !before.has(f));
  if (r.status !== 0 || crashes.length) {
    // The finding's report: the sanitizer's or libFuzzer's, from its start.
    const i = r.stderr.search(/==\d+==|ERROR: libFuzzer|SUMMARY/);
    process.stderr.write(r.stderr.slice(Math.max(0, i)).slice(0, 20000));
  }
  row.crashes = r.status !== 0 && crashes.length === 0 ? ['(no artifact)'] : crashes;
  row.corpus = fs.readdirSync(corpus).length;
  if (merge && row.crashes.length === 0) row.kept = mergeBack(target, bin, kept, seeds, corpus);
  return row;
}

/** The validator's fuzzer is a jest test; VPN_FUZZ_SECONDS makes it run for that long. */
function fuzzValidate() {
  const kept = path.join(fuzzDir, 'validate');
  const before = new Set(crashFiles(kept));
  const report = path.join(os.tmpdir(), `vpn-provider-fuzz-validate-${process.pid}.json`);
  console.log(`\n> [validate] fuzzing for ${seconds} s (test/unit/validate-fuzz.test.ts)`);
  const t0 = Date.now();
  const env = { ...process.env, VPN_FUZZ_SECONDS: String(seconds), VPN_FUZZ_REPORT: report };
  if (runs !== null) {
    delete env.VPN_FUZZ_SECONDS;
    env.VPN_FUZZ_INPUTS = String(runs);
  }
  delete env.LD_PRELOAD;
  const r = spawnSync(
    process.execPath,
    [
      path.join(root, 'node_modules', '.bin', 'jest'),
      '--selectProjects',
      'unit',
      '--testTimeout',
      String((seconds + 120) * 1000),
      '--testPathPatterns',
      'test/unit/validate-fuzz\\.test\\.ts',
    ],
    { cwd: root, env, stdio: 'inherit' },
  );
  let stats = { execs: 0, inputs: 0, seed: null };
  try {
    stats = JSON.parse(fs.readFileSync(report, 'utf8'));
    fs.rmSync(report);
  } catch {
    // no report: the run failed before the end
  }
  const crashes = crashFiles(kept).filter((f) => !before.has(f));
  return {
    target: 'validate',
    inputs: stats.inputs,
    replayed: r.status === 0 || crashes.length > 0,
    execs: stats.execs,
    seed: stats.seed,
    seconds: (Date.now() - t0) / 1000,
    crashes: r.status !== 0 && crashes.length === 0 ? ['(test failed)'] : crashes,
  };
}

if (targets.some((t) => nativeTargets.includes(t))) {
  if (!have('clang++') || !have('cmake')) {
    console.log('fuzz: clang++ and cmake are needed (apt-get install clang libclang-rt-dev cmake)');
    process.exit(3);
  }
  build();
}
if (buildOnly) process.exit(0);

const rows = targets.map((t) => (t === 'validate' ? fuzzValidate() : fuzzNative(t)));
console.log(
  '\n| target | inputs replayed (cov/ft) | seconds | executions | exec/s | cov | ft | kept corpus | new crashes |',
);
console.log(
  '|--------|------------------------:|--------:|-----------:|-------:|----:|---:|------------:|------------:|',
);
for (const r of rows) {
  const replayed = r.replayed
    ? `${r.inputs}${r.replayCov ? ` (${r.replayCov.cov}/${r.replayCov.ft})` : ''}`
    : `${r.inputs} (FAILED)`;
  const kept = r.kept ? `${r.kept.files} files, ${(r.kept.bytes / 1024).toFixed(0)} KiB` : '-';
  console.log(
    `| ${r.target} | ${replayed} | ${r.seconds.toFixed(0)} | ${r.execs} | ${
      r.seconds ? Math.round(r.execs / r.seconds) : 0
    } | ${r.cov ?? '-'} | ${r.ft ?? '-'} | ${kept} | ${r.crashes.length ? r.crashes.join(' ') : 0} |`,
  );
  if (r.seed !== undefined && r.seed !== null) console.log(`  (${r.target}: seed ${r.seed})`);
}
const bad = rows.filter((r) => !r.replayed || r.crashes.length);
const jsonFile = option('--json');
if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify({ seconds, runs, rows }, null, 2) + '\n');
if (bad.length) {
  console.log(
    `\nfuzz: ${bad.map((r) => r.target).join(', ')} failed; crash inputs are in test/fuzz/<target>/ ` +
      '(rerun one: build-fuzz/<target> test/fuzz/<target>/crash-...)',
  );
  process.exit(1);
}
console.log('\nfuzz: no crash');
