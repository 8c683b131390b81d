#!/usr/bin/env node
'use strict';
// The developer build (CMake through cmake-js): the same addon as
// binding.gyp plus the C++ unit tests, in build-dev/; with --sanitize an
// ASan + UBSan build in build-asan/; with --fuzz the libFuzzer targets
// (clang) in build-fuzz/. Then runs the C++ unit tests (not for --fuzz).
//   npm run build:dev [-- --sanitize | --fuzz]
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const sanitize = argv.includes('--sanitize');
const fuzz = argv.includes('--fuzz');
const out = fuzz ? 'build-fuzz' : sanitize ? 'build-asan' : 'build-dev';
const defs = ['--CDVPN_WERROR=ON'];
if (sanitize) defs.push('--CDVPN_SANITIZE=address,undefined');
if (fuzz)
  defs.push('--CDVPN_FUZZ=ON', '--CDCMAKE_C_COMPILER=clang', '--CDCMAKE_CXX_COMPILER=clang++');

function run(cmd, args) {
  console.log(`> ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run(process.execPath, [
  path.join(root, 'node_modules', '.bin', 'cmake-js'),
  'build',
  '--out',
  out,
  ...(sanitize || fuzz ? ['--debug'] : []),
  ...defs,
]);
if (!fuzz) run('ctest', ['--test-dir', out, '--output-on-failure']);
