#!/usr/bin/env node
'use strict';
// `npm test`: the whole suite, in steps:
//   lint         tsc --noEmit (strict), eslint, prettier --check, clang-format
//   build        the addon from the current sources (node-gyp build into
//                build/Release, incremental), and tsc to dist/ (child
//                processes and workers in tests load it)
//   unit         jest, no privileges needed, against build/Release (never an
//                older prebuild: VPN_PROVIDER_ADDON points at the new build;
//                test/unit/addon.test.ts fails if it is older than a source)
//   native       the C++ unit tests (CMake developer build in build-dev/)
//   tsan         native/test/thread_test.cc (the C++ that runs on several
//                threads) under ThreadSanitizer (build-tsan/; npm run
//                test:tsan runs every C++ test under it)
//   fuzz         the libFuzzer targets (clang, ASan + UBSan), each for a
//                bounded time after replaying the inputs kept in test/fuzz/
//                (scripts/fuzz.js; without clang: skipped, failed in CI)
//   sanitize     the addon built with ASan + UBSan (CMake), its C++ tests,
//                then the unit and integration suites against it, the
//                sanitizer runtimes preloaded into the node processes
//   integration  jest, against real TUN devices. With CAP_NET_ADMIN it runs
//                under `unshare --net`: a private network namespace that the
//                kernel deletes when the last process in it exits, so nothing
//                it creates can outlive the run or touch the host's network.
//                Without privileges its tests skip with the reason in their
//                title; with VPN_PROVIDER_REQUIRE_PRIVILEGED=1 (CI) they fail.
//   package      npm run prebuild, npm pack, then the tarball installed in an
//                empty folder without a compiler in PATH (loads the
//                prebuild) and without a matching prebuild (builds from
//                source); the prebuild's glibc needs (<= Debian 12's)
// Usage: node scripts/test.js [--only step[,step]] [--skip step[,step]]
// Ends with one line "N passed, N failed[, N skipped]" over all steps.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const listArg = (flag) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1].split(',') : null;
};
const only = listArg('--only');
const skip = listArg('--skip') ?? [];
const strict = process.env.VPN_PROVIDER_REQUIRE_PRIVILEGED === '1';
const wanted = (step) => (!only || only.includes(step)) && !skip.includes(step);

const totals = { passed: 0, failed: 0, skipped: 0 };
// The first line of the scratch resolv.conf (test/helpers/netns.ts checks it).
const SCRATCH_MARK =
  '# vpn-provider test scratch, bound over /etc/resolv.conf in a private mount namespace';
let failedSteps = [];

// A step that hangs (a handle that keeps jest alive, say) fails after this
// long instead of using up CI's time.
const STEP_TIMEOUT_MS = 15 * 60 * 1000;

function run(step, cmd, args, opts = {}) {
  console.log(`\n> [${step}] ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    timeout: STEP_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    ...opts,
  });
  if (r.error) {
    const why =
      r.error.code === 'ETIMEDOUT'
        ? `did not finish within ${STEP_TIMEOUT_MS / 60000} minutes`
        : r.error.message;
    console.error(`[${step}] ${cmd}: ${why}`);
    return 127;
  }
  return r.status ?? 1;
}

function step(name, fn) {
  if (!wanted(name)) return;
  const ok = fn();
  if (!ok) failedSteps.push(name);
}

function which(cmd) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status === 0;
}

const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function nativeFiles() {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|h)$/.test(e.name)) out.push(path.relative(root, p));
    }
  };
  walk(path.join(root, 'native'));
  return out;
}

// preload: LD_PRELOAD for the node process only (not for unshare, sh, ip).
function jest(project, extra = [], wrap = null, preload = null) {
  const outFile = path.join(os.tmpdir(), `vpn-provider-jest-${project}-${process.pid}.json`);
  const args = [
    bin('jest'),
    '--selectProjects',
    project,
    '--json',
    '--outputFile',
    outFile,
    ...extra,
  ];
  const node = preload ? ['env', `LD_PRELOAD=${preload}`, process.execPath] : [process.execPath];
  const cmd = [...(wrap ?? []), ...node, ...args];
  const code = run(project, cmd[0], cmd.slice(1));
  try {
    const r = JSON.parse(fs.readFileSync(outFile, 'utf8'));
    fs.unlinkSync(outFile);
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests;
    totals.skipped += r.numPendingTests + r.numTodoTests;
    if (r.numTotalTests === 0) {
      console.error(`[${project}] ran no test`);
      return false;
    }
  } catch {
    totals.failed += 1;
  }
  return code === 0;
}

step('lint', () => {
  let ok = run('lint', process.execPath, [bin('tsc'), '--noEmit', '-p', 'tsconfig.json']) === 0;
  ok = run('lint', process.execPath, [bin('eslint'), '--max-warnings=0', '.']) === 0 && ok;
  ok = run('lint', process.execPath, [bin('prettier'), '--check', '.']) === 0 && ok;
  if (which('clang-format')) {
    ok = run('lint', 'clang-format', ['--dry-run', '--Werror', ...nativeFiles()]) === 0 && ok;
  } else if (strict) {
    console.error('[lint] clang-format is not installed (apt-get install clang-format)');
    ok = false;
  } else {
    console.log('[lint] clang-format not installed: C++ format check skipped');
  }
  return ok;
});

// The release addon the unit and integration steps load (prebuildify moves
// build/Release/ into prebuilds/, so node-gyp-build alone could pick a
// prebuild older than the sources).
const RELEASE_ADDON = path.join(root, 'build', 'Release', 'vpn_provider.node');

step('build', () => {
  const gyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const configured = fs.existsSync(path.join(root, 'build', 'Makefile'));
  let ok =
    configured ||
    run('build', process.execPath, [gyp, 'configure'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }) === 0;
  ok =
    ok &&
    run(
      'build',
      process.execPath,
      [gyp, 'build', '-j', String(Math.max(2, os.availableParallelism()))],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    ) === 0;
  if (ok && !fs.existsSync(RELEASE_ADDON)) {
    console.error(`[build] node-gyp made no ${path.relative(root, RELEASE_ADDON)}`);
    ok = false;
  }
  return run('build', process.execPath, [bin('tsc'), '-p', 'tsconfig.build.json']) === 0 && ok;
});

/** Runs fn with VPN_PROVIDER_ADDON set to `addon` (restored after). */
function withAddon(addon, fn) {
  const saved = process.env.VPN_PROVIDER_ADDON;
  process.env.VPN_PROVIDER_ADDON = addon;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env.VPN_PROVIDER_ADDON;
    else process.env.VPN_PROVIDER_ADDON = saved;
  }
}

step('unit', () => withAddon(RELEASE_ADDON, () => jest('unit')));

step('native', () => {
  if (!which('cmake')) {
    console.log('[native] cmake is not installed: C++ unit tests skipped');
    return !strict;
  }
  const dir = path.join(root, 'build-dev');
  let ok =
    run(
      'native',
      'cmake',
      ['-S', '.', '-B', dir, '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DVPN_WERROR=ON'],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    ) === 0;
  ok =
    ok &&
    run('native', 'cmake', [
      '--build',
      dir,
      '-j',
      String(Math.max(2, os.availableParallelism())),
    ]) === 0;
  if (!ok) return false;
  const r = spawnSync('ctest', ['--test-dir', dir, '--output-on-failure'], {
    cwd: root,
    encoding: 'utf8',
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  const m = /(\d+)% tests passed, (\d+) tests failed out of (\d+)/.exec(r.stdout);
  if (m) {
    totals.passed += Number(m[3]) - Number(m[2]);
    totals.failed += Number(m[2]);
  } else {
    totals.failed += 1;
  }
  return r.status === 0;
});

step('tsan', () => {
  if (!which('cmake')) {
    console.log('[tsan] cmake is not installed: the ThreadSanitizer run is skipped');
    return !strict;
  }
  const dir = path.join(root, 'build-tsan');
  const quiet = { stdio: ['ignore', 'ignore', 'inherit'] };
  const ok =
    run(
      'tsan',
      'cmake',
      [
        '-S',
        '.',
        '-B',
        dir,
        '-DCMAKE_BUILD_TYPE=RelWithDebInfo',
        '-DVPN_WERROR=ON',
        '-DVPN_SANITIZE=thread',
      ],
      quiet,
    ) === 0 &&
    run('tsan', 'cmake', [
      '--build',
      dir,
      '-j',
      String(Math.max(2, os.availableParallelism())),
      '--target',
      'thread_test',
    ]) === 0;
  if (!ok) return false;
  const env = { ...process.env, TSAN_OPTIONS: 'halt_on_error=1:second_deadlock_stack=1' };
  delete env.LD_PRELOAD;
  const code = run('tsan', path.join(dir, 'thread_test'), [], { env });
  if (code === 0) totals.passed += 1;
  else totals.failed += 1;
  return code === 0;
});

// Seconds each fuzz target runs in npm test (npm run fuzz runs longer).
const FUZZ_SECONDS = 15;

step('fuzz', () => {
  const targets = fs
    .readdirSync(path.join(root, 'native', 'fuzz'))
    .filter((f) => f.endsWith('_fuzz.cc'))
    .map((f) => f.slice(0, -3));
  const out = path.join(os.tmpdir(), `vpn-provider-fuzz-${process.pid}.json`);
  const code = run('fuzz', process.execPath, [
    path.join(__dirname, 'fuzz.js'),
    '--seconds',
    String(FUZZ_SECONDS),
    // The corpus in git is grown by npm run fuzz, not by the test run.
    '--no-merge',
    '--targets',
    targets.join(','),
    '--json',
    out,
  ]);
  if (code === 3) {
    console.log('[fuzz] clang is not installed: the fuzz targets were not run');
    return !strict;
  }
  try {
    const { rows } = JSON.parse(fs.readFileSync(out, 'utf8'));
    fs.rmSync(out);
    for (const r of rows) {
      if (r.replayed && r.crashes.length === 0) totals.passed += 1;
      else totals.failed += 1;
    }
  } catch {
    totals.failed += 1;
  }
  return code === 0;
});

// systemd-resolved for the test of the DNS backend that uses it
// (test/integration/resolved.test.ts), unpacked into build-resolved/ with
// apt-get download + dpkg -x, never installed: its maintainer scripts would
// turn the host's /etc/resolv.conf into a symlink. The test runs it in
// namespaces of its own. Sets VPN_PROVIDER_RESOLVED_ROOT, or
// VPN_PROVIDER_RESOLVED_SKIP (why not) and VPN_PROVIDER_RESOLVED_INSTALLABLE.
function unpackResolved() {
  if (process.env.VPN_PROVIDER_RESOLVED_ROOT || process.env.VPN_PROVIDER_RESOLVED_SKIP) return;
  const dir = path.join(root, 'build-resolved');
  const unpacked = path.join(dir, 'root');
  const have = () =>
    fs.existsSync(path.join(unpacked, 'lib', 'systemd', 'systemd-resolved')) &&
    fs.existsSync(path.join(unpacked, 'usr', 'bin', 'resolvectl')) &&
    (which('dbus-daemon') || fs.existsSync(path.join(unpacked, 'usr', 'bin', 'dbus-daemon')));
  const skip = (why, installable) => {
    console.log(`[integration] systemd-resolved: ${why}`);
    process.env.VPN_PROVIDER_RESOLVED_SKIP = why;
    process.env.VPN_PROVIDER_RESOLVED_INSTALLABLE = installable ? '1' : '0';
  };
  if (have()) {
    process.env.VPN_PROVIDER_RESOLVED_ROOT = unpacked;
    return;
  }
  if (!which('apt-get') || !which('apt-cache') || !which('dpkg')) {
    return skip(
      'no apt-get, apt-cache and dpkg to unpack systemd-resolved (Debian, Ubuntu)',
      false,
    );
  }
  const policy = spawnSync('apt-cache', ['policy', 'systemd-resolved'], { encoding: 'utf8' });
  const version = /Candidate: (\S+)/.exec(policy.stdout ?? '')?.[1];
  if (!version || version === '(none)') {
    return skip('apt knows no systemd-resolved package here (apt-get update?)', false);
  }
  // resolved links libsystemd-shared of its own version (its own package
  // from Debian 12 on; inside systemd's before).
  const debs = path.join(dir, 'debs');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(debs, { recursive: true });
  const download = (pkgs) =>
    spawnSync('apt-get', ['download', '-qq', ...pkgs], { cwd: debs, encoding: 'utf8' });
  let r = download([`systemd-resolved=${version}`, `libsystemd-shared=${version}`]);
  if (r.status !== 0) r = download([`systemd-resolved=${version}`, `systemd=${version}`]);
  if (r.status === 0 && !which('dbus-daemon')) r = download(['dbus-daemon', 'libdbus-1-3']);
  if (r.status !== 0) {
    return skip(`apt-get download failed: ${(r.stderr ?? '').trim().split('\n').pop()}`, true);
  }
  for (const deb of fs.readdirSync(debs).filter((f) => f.endsWith('.deb'))) {
    if (spawnSync('dpkg', ['-x', path.join(debs, deb), unpacked]).status !== 0) {
      return skip(`dpkg -x ${deb} failed`, true);
    }
  }
  if (!have()) return skip('the unpacked packages hold no systemd-resolved and resolvectl', true);
  process.env.VPN_PROVIDER_RESOLVED_ROOT = unpacked;
}

function integration(preload = null) {
  unpackResolved();
  const isRoot = process.getuid && process.getuid() === 0;
  if (isRoot && which('unshare')) {
    // A private network namespace, and a private mount namespace in which a
    // scratch file is bound over /etc/resolv.conf: the DNS tests write that
    // file, never the host's. --runInBand: the test files share them.
    process.env.VPN_PROVIDER_OUTER_NETNS = fs.readlinkSync('/proc/self/ns/net');
    process.env.VPN_PROVIDER_OUTER_MNTNS = fs.readlinkSync('/proc/self/ns/mnt');
    const scratch = path.join(os.tmpdir(), `vpn-provider-resolv-${process.pid}.conf`);
    fs.writeFileSync(scratch, `${SCRATCH_MARK}\nnameserver 192.0.2.53\n`);
    try {
      const bind =
        'if [ -e /etc/resolv.conf ]; then mount --bind "$0" /etc/resolv.conf; fi; exec "$@"';
      return jest(
        'integration',
        ['--runInBand'],
        ['unshare', '--net', '--mount', '--', 'sh', '-c', bind, scratch],
        preload,
      );
    } finally {
      fs.rmSync(scratch, { force: true });
    }
  }
  return jest('integration', ['--runInBand'], null, preload);
}

step('sanitize', () => {
  if (!which('cmake')) {
    console.log('[sanitize] cmake is not installed: the sanitizer run is skipped');
    return !strict;
  }
  if (run('sanitize', process.execPath, [path.join(__dirname, 'build-dev.js'), '--sanitize']) !== 0)
    return false;
  const lib = (name) =>
    spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).stdout.trim();
  const preload = `${lib('libasan.so')} ${lib('libubsan.so')}`;
  const saved = { ...process.env };
  Object.assign(process.env, {
    VPN_PROVIDER_ADDON: path.join(root, 'build-asan', 'Debug', 'vpn_provider.node'),
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  });
  try {
    const unitOk = jest('unit', [], null, preload);
    return integration(preload) && unitOk;
  } finally {
    for (const k of ['VPN_PROVIDER_ADDON', 'ASAN_OPTIONS', 'UBSAN_OPTIONS']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
});

step('integration', () => withAddon(RELEASE_ADDON, () => integration()));

step('package', () => jest('package', ['--runInBand']));

console.log('');
if (failedSteps.length) console.log(`failed steps: ${failedSteps.join(', ')}`);
console.log(
  `${totals.passed} passed, ${totals.failed} failed` +
    (totals.skipped ? `, ${totals.skipped} skipped` : ''),
);
process.exit(failedSteps.length || totals.failed ? 1 : 0);
