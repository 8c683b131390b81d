#!/usr/bin/env node
'use strict';
// The developer build (CMake through cmake-js): the same addon as
// binding.gyp plus the C++ unit tests, in build-dev/; with --sanitize an
// ASan + UBSan build in build-asan/. Then runs the C++ unit tests.
//   npm run build:dev [-- --sanitize | --tsan | --fuzz]
// --tsan: the C++ unit tests under ThreadSanitizer (plain CMake, no addon:
//   an instrumented addon would need a TSan build of node itself), in
//   build-tsan/; `npm run test:tsan`. What they cover: native/test/
//   thread_test.cc (route tables built on worker threads while the main
//   thread reads its own, concurrent rtnetlink requests, the packet path's
//   read and write on two threads) and the other C++ tests on one thread.
// --fuzz: the libFuzzer targets (clang) in build-fuzz/, as npm run fuzz
//   builds them (scripts/fuzz.js --build-only).
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const sanitize = argv.includes('--sanitize');
const tsan = argv.includes('--tsan');
const fuzz = argv.includes('--fuzz');

function run(cmd, args, opts = {}) {
  console.log(`> ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (fuzz) {
  run(process.execPath, [path.join(__dirname, 'fuzz.js'), '--build-only']);
  process.exit(0);
}

if (tsan) {
  const out = path.join(root, 'build-tsan');
  run('cmake', [
    '-S',
    '.',
    '-B',
    out,
    '-DCMAKE_BUILD_TYPE=RelWithDebInfo',
    '-DVPN_WERROR=ON',
    '-DVPN_SANITIZE=thread',
  ]);
  run('cmake', ['--build', out, '-j', String(Math.max(2, os.availableParallelism()))]);
  // halt_on_error: a race fails the test instead of being printed and passed.
  const env = { ...process.env, TSAN_OPTIONS: 'halt_on_error=1:second_deadlock_stack=1' };
  delete env.LD_PRELOAD;
  run('ctest', ['--test-dir', out, '--output-on-failure'], { env });
  process.exit(0);
}

const out = sanitize ? 'build-asan' : 'build-dev';
const defs = ['--CDVPN_WERROR=ON'];
if (sanitize) defs.push('--CDVPN_SANITIZE=address,undefined');

run(process.execPath, [
  path.join(root, 'node_modules', '.bin', 'cmake-js'),
  'build',
  '--out',
  out,
  ...(sanitize ? ['--debug'] : []),
  ...defs,
]);
run('ctest', ['--test-dir', out, '--output-on-failure']);
