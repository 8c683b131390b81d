#!/usr/bin/env node
'use strict';
// npm run prebuild: the prebuilt addons the package ships, N-API 8,
// stripped, tagged with their C library (prebuildify):
//   prebuilds/linux-x64/vpn-provider.glibc.node    built here
//   prebuilds/linux-arm64/vpn-provider.glibc.node  cross-compiled with
//     Debian's g++-aarch64-linux-gnu (apt-get install g++-aarch64-linux-gnu)
// Build both on Debian 12 or older so that no symbol newer than its glibc
// 2.36 is needed (test/package/ reads them). --host-only builds this
// machine's alone.
// The cross build goes first: prebuildify builds in build/, and the host's
// build last leaves build/ configured for this machine (npm test's next
// `node-gyp build` must not make an arm64 addon). npm would run this before
// a script named `build`: the plain build is `npm run rebuild`.
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
const args = ['--napi', '--strip', '--tag-libc'];

function run(label, extra, env) {
  console.log(`prebuild: ${label}`);
  const r = spawnSync(process.execPath, [prebuildify, ...args, ...extra], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) {
    console.error(`prebuild: ${label} failed`);
    process.exit(r.status ?? 1);
  }
}

function have(cmd) {
  return spawnSync('sh', ['-c', 'command -v "$0"', cmd]).status === 0;
}

if (os.platform() !== 'linux' || os.arch() !== 'x64') {
  console.error(`prebuild: builds on linux-x64 (this is ${os.platform()}-${os.arch()})`);
  process.exit(2);
}
const hostOnly = process.argv.includes('--host-only');

const cross = 'aarch64-linux-gnu';
if (!hostOnly && !have(`${cross}-g++`)) {
  console.error(
    `prebuild: no ${cross}-g++ for the linux-arm64 prebuild: apt-get install g++-${cross} ` +
      '(or npm run prebuild -- --host-only)',
  );
  process.exit(1);
}
if (!hostOnly) {
  run('linux-arm64 (cross-compiled)', ['--arch', 'arm64'], {
    CC: `${cross}-gcc`,
    CXX: `${cross}-g++`,
    LINK: `${cross}-g++`,
    AR: `${cross}-ar`,
    PREBUILD_STRIP_BIN: `${cross}-strip`,
  });
}
run('linux-x64', []);
