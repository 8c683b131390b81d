#!/usr/bin/env node
'use strict';
// Fuzzing: the libFuzzer targets of native/fuzz (the CIDR and address
// parser, the packet classifier, the netlink message parsers), built with
// clang under ASan + UBSan in build-fuzz/, and the setParameters validator
// (TypeScript, fuzzed from JS: test/unit/validate-fuzz.test.ts).
//
//   npm run fuzz -- [--seconds N] [--targets cidr_fuzz,validate] [--build-only]
//                   [--json FILE]   (the summary's rows, for npm test)
//
// For each target, first every input kept in test/fuzz/<target>/ is run once
// (the seeds, and the inputs of crashes found before: regression inputs);
// then the target fuzzes for N seconds (default 60), starting from those
// inputs, adding what it finds to build-fuzz/corpus/<target>/ (not kept in
// git). A crash is written to test/fuzz/<target>/crash-<sha1> (the validator:
// crash-<sha1>.json), where the next run replays it: commit it with the fix.
// Ends with a table of executions and crashes, and a non-zero status if any
// target crashed. Exits 3 when clang is missing (npm test reports a skip).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const common = require('../bench/common');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const option = (name, dflt) => common.option(argv, name, dflt);
const seconds = Number(option('--seconds', 60));
const buildOnly = argv.includes('--build-only');
const buildDir = path.join(root, 'build-fuzz');
const fuzzDir = path.join(root, 'test', 'fuzz');

if (!(seconds > 0)) {
  console.error('fuzz: --seconds must be a positive number');
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
  env.UBSAN_OPTIONS = 'halt_on_error=1:print_stacktrace=1';
  return env;
}

/** Replays the kept inputs, then fuzzes; returns the row of the summary. */
function fuzzNative(target) {
  const bin = path.join(buildDir, target);
  const kept = path.join(fuzzDir, target);
  const corpus = path.join(buildDir, 'corpus', target);
  fs.mkdirSync(kept, { recursive: true });
  fs.mkdirSync(corpus, { recursive: true });
  const before = new Set(crashFiles(kept));
  const inputs = fs.readdirSync(kept).length;

  // Regression: each kept input once (a crash input that still crashes fails here).
  console.log(`\n> [${target}] replaying ${inputs} kept inputs from test/fuzz/${target}/`);
  const replay = spawnSync(bin, ['-runs=0', kept], {
    cwd: root,
    env: fuzzEnv(),
    encoding: 'utf8',
  });
  if (replay.status !== 0) {
    process.stderr.write(replay.stderr);
    return { target, inputs, replayed: false, execs: 0, seconds: 0, crashes: [] };
  }

  console.log(`> [${target}] fuzzing for ${seconds} s`);
  const t0 = Date.now();
  const r = spawnSync(
    bin,
    [
      `-max_total_time=${seconds}`,
      '-timeout=10',
      '-rss_limit_mb=2048',
      '-print_final_stats=1',
      `-artifact_prefix=${kept}${path.sep}`,
      corpus,
      kept,
    ],
    { cwd: root, env: fuzzEnv(), encoding: 'utf8', maxBuffer: 256 << 20 },
  );
  const took = (Date.now() - t0) / 1000;
  const m = /stat::number_of_executed_units:\s*(\d+)/.exec(r.stderr);
  const crashes = crashFiles(kept).filter((f) => !before.has(f));
  if (r.status !== 0 || crashes.length) {
    // The finding's report: the sanitizer's or libFuzzer's, from its start.
    const i = r.stderr.search(/==\d+==|ERROR: libFuzzer|SUMMARY/);
    process.stderr.write(r.stderr.slice(Math.max(0, i)).slice(0, 20000));
  }
  return {
    target,
    inputs,
    replayed: true,
    execs: m ? Number(m[1]) : 0,
    seconds: took,
    crashes: r.status !== 0 && crashes.length === 0 ? ['(no artifact)'] : crashes,
    corpus: fs.readdirSync(corpus).length,
  };
}

/** The validator's fuzzer is a jest test; VPN_FUZZ_SECONDS makes it run for that long. */
function fuzzValidate() {
  const kept = path.join(fuzzDir, 'validate');
  const before = new Set(crashFiles(kept));
  const report = path.join(os.tmpdir(), `vpn-provider-fuzz-validate-${process.pid}.json`);
  console.log(`\n> [validate] fuzzing for ${seconds} s (test/unit/validate-fuzz.test.ts)`);
  const t0 = Date.now();
  const env = { ...process.env, VPN_FUZZ_SECONDS: String(seconds), VPN_FUZZ_REPORT: report };
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
  let stats = { execs: 0, inputs: 0 };
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
console.log('\n| target | kept inputs replayed | seconds | executions | exec/s | new crashes |');
console.log('|--------|---------------------:|--------:|-----------:|-------:|------------:|');
for (const r of rows) {
  console.log(
    `| ${r.target} | ${r.replayed ? r.inputs : `${r.inputs} (FAILED)`} | ${r.seconds.toFixed(0)} | ${r.execs} | ${
      r.seconds ? Math.round(r.execs / r.seconds) : 0
    } | ${r.crashes.length ? r.crashes.join(' ') : 0} |`,
  );
}
const bad = rows.filter((r) => !r.replayed || r.crashes.length);
const jsonFile = option('--json');
if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify({ seconds, rows }, null, 2) + '\n');
if (bad.length) {
  console.log(
    `\nfuzz: ${bad.map((r) => r.target).join(', ')} failed; crash inputs are in test/fuzz/<target>/ ` +
      '(rerun one: build-fuzz/<target> test/fuzz/<target>/crash-...)',
  );
  process.exit(1);
}
console.log('\nfuzz: no crash');
