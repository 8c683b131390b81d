#!/usr/bin/env node
'use strict';
// npm run bench: every suite in turn (packet path, platform, route table),
// each writing its table and its JSON to bench/results/. Arguments after --
// go to every suite (e.g. --reps 3). Needs root for the first two.
//   npm run bench [-- --reps=N] [--only packet,platform,route]
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const argv = process.argv.slice(2);
const i = argv.indexOf('--only');
const only = i >= 0 ? argv.splice(i, 2)[1].split(',') : ['packet', 'platform', 'route'];
let failed = 0;
for (const suite of only) {
  console.log(`\n=== bench/${suite}`);
  const r = spawnSync(process.execPath, [path.join(__dirname, suite, 'run.js'), ...argv], {
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error(`bench/${suite} failed (exit ${r.status})`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
