#!/usr/bin/env node
'use strict';
// npm run bench: every suite (packet path with its batch-size sweep,
// platform, route table, end-to-end tunnel, offloads, UDP socket, WireGuard), every
// trial in a fresh process,
// one progress bar over them. Writes bench/results/<date>.json (every
// suite's data and the metrics, each with its ratio to a baseline of the
// same run), <date>.md (the tables), <date>.log (the suites' own output) and,
// when the packet suite ran, the chart bench/chart.svg (the README's).
// Arguments after -- go to every suite (e.g. --reps 3). Needs root for all
// but the route suite.
//   npm run bench [-- --reps=N] [--only packet,platform,route,tunnel,offload,udp,wireguard] [--no-chart]
const fs = require('node:fs');
const path = require('node:path');
const { SUITES, root, runSuites, markdown } = require('./harness');
const { chart } = require('./chart');

async function main() {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--only');
  const names = i >= 0 ? argv.splice(i, 2)[1].split(',') : Object.keys(SUITES);
  const noChart = argv.includes('--no-chart');
  const extra = argv.filter((a) => a !== '--no-chart');
  const command = [
    'npm run bench',
    ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : []),
  ].join(' ');
  const { result, base } = await runSuites(names, 'full', { extra, command });
  const md = markdown(result);
  fs.writeFileSync(`${base}.md`, md);
  process.stdout.write(`\n${md}`);
  const rel = (p) => path.relative(process.cwd(), p);
  console.log(`\nwrote ${rel(`${base}.json`)}, ${rel(`${base}.md`)}, ${rel(`${base}.log`)}`);
  if (result.suites.packet && !noChart) {
    const svg = chart(result);
    fs.writeFileSync(`${base}.svg`, svg);
    fs.writeFileSync(path.join(root, 'bench', 'chart.svg'), svg);
    console.log(`wrote ${rel(`${base}.svg`)} and ${rel(path.join(root, 'bench', 'chart.svg'))}`);
  }
  process.exit(result.failed.length ? 1 : 0);
}

main().catch((err) => {
  console.error(err.stack);
  process.exit(1);
});
