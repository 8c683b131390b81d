#!/usr/bin/env node
'use strict';
// Packet-path benchmark: packets/s into JS and out of JS, for 64- and
// 1400-byte UDP payloads, against (a) a plain C read()/write() loop on a TUN
// fd, (b) plain Node fs.readSync/writeSync on the fd, (c) the npm peer
// appium-ios-tuntap. Each trial runs in a fresh process inside its own
// network namespace (`unshare --net`, deleted by the kernel when the trial
// exits). Repetitions are interleaved and every figure is also given as the
// median of per-repetition ratios to the C loop of the same repetition, since
// absolute numbers on shared 2-core machines move by 30-50% between runs.
//
//   node bench/packet/run.js [--reps N] [--quick] [--no-peer] [--json FILE]
//        [--batches 1,4,16] [--impls vpn-batch,vpn-surface]
// --batches adds vpn-batch at other batch sizes (packets per JS call in,
// per sendPackets call out) as vpn-batch:N; --impls keeps only those (and
// the C baselines).
// Needs root (CAP_NET_ADMIN, unshare) and a C compiler; says so if not.
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { option, progress, median, metrics, writeResults } = require('../common');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const opt = (name, dflt) => option(argv, name, dflt);
const quick = flag('--quick');
const reps = Number(opt('--reps', quick ? 3 : 5));
const PEER = 'appium-ios-tuntap@2.0.5';
const peerRoot = path.join(root, 'bench', '.cache', 'peers');

if (process.getuid() !== 0) {
  console.error(
    'bench/packet: needs root (it creates TUN devices inside its own network namespaces).',
  );
  process.exit(2);
}

function buildC() {
  const out = path.join(root, 'bench', 'bin', 'tunbench');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  execFileSync('cc', ['-O2', '-Wall', '-o', out, path.join(__dirname, 'tunbench.c')], {
    stdio: 'inherit',
  });
}

function ensurePeer() {
  if (flag('--no-peer')) return false;
  const dir = path.join(peerRoot, 'node_modules', 'appium-ios-tuntap');
  if (!fs.existsSync(dir)) {
    console.error(`installing the npm peer ${PEER} into bench/.cache/peers ...`);
    fs.mkdirSync(peerRoot, { recursive: true });
    const r = spawnSync(
      'npm',
      ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', peerRoot, PEER],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    if (r.status !== 0) {
      console.error(`could not install ${PEER}: peer column left out`);
      return false;
    }
  }
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(dir)})`], {
    encoding: 'utf8',
  });
  if (probe.status !== 0) {
    console.error(
      `${PEER} does not load here: ${probe.stderr.split('\n').find((l) => /Error/.test(l))}`,
    );
    return false;
  }
  return true;
}

function trial(dir, impl, size, count) {
  const r = spawnSync(
    'unshare',
    [
      '--net',
      '--',
      process.execPath,
      path.join(__dirname, 'trial.js'),
      dir,
      impl,
      String(size),
      String(count),
    ],
    {
      encoding: 'utf8',
      timeout: 120000,
    },
  );
  if (r.status !== 0 || !r.stdout.trim()) {
    return {
      error: (r.stderr || r.error?.message || `exit ${r.status}`)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' '),
    };
  }
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  res.pps = res.packets / res.seconds;
  res.cpuPerPacketNs = (res.cpu / Math.max(1, res.packets)) * 1e9;
  return res;
}

function main() {
  buildC();
  const peer = ensurePeer();
  const sizes = [64, 1400];
  const counts = {
    recv: { 64: quick ? 200000 : 400000, 1400: quick ? 100000 : 200000 },
    send: { 64: quick ? 200000 : 400000, 1400: quick ? 100000 : 200000 },
  };
  const impls = {
    recv: [
      'c-read',
      'vpn-batch',
      'vpn-surface',
      'vpn-packet',
      'node-readsync',
      ...(peer ? ['appium'] : []),
    ],
    send: [
      'c-write',
      'vpn-batch',
      'vpn-surface',
      'vpn-single',
      'node-writesync',
      ...(peer ? ['appium'] : []),
    ],
  };
  const sweep = (opt('--batches', '') || '').split(',').filter(Boolean);
  const keep = opt('--impls', '')?.split(',').filter(Boolean);
  for (const dir of ['recv', 'send']) {
    const i = impls[dir].indexOf('vpn-batch') + 1;
    const swept = sweep.filter((b) => Number(b) !== batchOf(dir, 'vpn-batch'));
    impls[dir].splice(i, 0, ...swept.map((b) => `vpn-batch:${b}`));
    if (keep?.length)
      impls[dir] = impls[dir].filter((x) => /^c-/.test(x) || keep.includes(x.split(':')[0]));
  }
  const plan = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const dir of ['recv', 'send']) {
      for (const size of sizes) {
        for (const impl of impls[dir]) plan.push({ rep, dir, size, impl });
      }
    }
  }
  plan.push({ rep: 0, dir: 'idle', size: 0, impl: 'vpn-batch' });
  const results = [];
  plan.forEach((p, i) => {
    progress(i, plan.length, `${p.dir} ${p.impl} ${p.size}B`);
    const count = p.dir === 'idle' ? 3000 : counts[p.dir][p.size];
    results.push({ ...p, ...trial(p.dir, p.impl, p.size, count) });
  });
  progress(plan.length, plan.length, 'done');

  const rows = [];
  for (const dir of ['recv', 'send']) {
    const base = dir === 'recv' ? 'c-read' : 'c-write';
    for (const size of sizes) {
      for (const impl of impls[dir]) {
        const mine = results.filter((r) => r.dir === dir && r.size === size && r.impl === impl);
        const ratios = (other) =>
          mine.map((r) => {
            const b = results.find(
              (x) => x.dir === dir && x.size === size && x.impl === other && x.rep === r.rep,
            );
            return b && b.pps ? r.pps / b.pps : NaN;
          });
        rows.push({
          dir,
          size,
          impl,
          pps: median(mine.map((r) => r.pps)),
          ppsMin: Math.min(...mine.map((r) => r.pps ?? Infinity)),
          ppsMax: Math.max(...mine.map((r) => r.pps ?? -Infinity)),
          vsC: median(ratios(base)),
          vsCOfMedians:
            median(mine.map((r) => r.pps)) /
            median(
              results
                .filter((x) => x.dir === dir && x.size === size && x.impl === base)
                .map((x) => x.pps),
            ),
          vsPeer: peer ? median(ratios('appium')) : null,
          cpuPerPacketNs: median(mine.map((r) => r.cpuPerPacketNs)),
          errors: mine.filter((r) => r.error).map((r) => r.error),
        });
      }
    }
  }
  const idle = results.find((r) => r.dir === 'idle');
  const idleCpuPercent = idle && !idle.error ? (idle.cpu / idle.seconds) * 100 : null;

  const fmt = (x, d = 2) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));
  console.log(
    `\npacket path, ${reps} repetitions, medians. × C: median of the per-repetition ratios to the C loop` +
      ` (C med: ratio of the medians); × peer: the same to ${PEER}`,
  );
  console.log(
    '| dir  | payload | implementation | packets/s | min..max | × C | × C med | × peer | CPU ns/packet |',
  );
  console.log(
    '|------|--------:|----------------|----------:|---------:|----:|--------:|-------:|--------------:|',
  );
  for (const r of rows) {
    console.log(
      `| ${r.dir.padEnd(4)} | ${String(r.size).padStart(6)}B | ${r.impl.padEnd(14)} | ${fmt(r.pps / 1e3, 0).padStart(7)}k | ${fmt(r.ppsMin / 1e3, 0)}..${fmt(r.ppsMax / 1e3, 0)}k | ${fmt(r.vsC)} | ${fmt(r.vsCOfMedians).padStart(7)} | ${fmt(r.vsPeer).padStart(6)} | ${fmt(r.cpuPerPacketNs, 0).padStart(13)} |`,
    );
    for (const e of r.errors) console.log(`    error: ${e}`);
  }
  console.log(
    `idle device with a listener: ${fmt(idleCpuPercent, 3)}% of a core over ${fmt(idle?.seconds, 1)} s`,
  );

  writeResults(
    'packet',
    {
      method:
        'recv: the device queue is filled first, then drained by the implementation (reader alone); send: writes delivered to a UDP socket that never reads. Fresh process and network namespace per trial.',
      reps,
      rows,
      metrics: metrics(
        'packet',
        results
          .filter((r) => r.dir !== 'idle')
          .map((r) => ({
            group: `${r.dir} ${r.size}B`,
            impl: r.impl,
            rep: r.rep,
            value: r.pps,
            cost: r.cpuPerPacketNs / 1e9,
            params: { dir: r.dir, size: r.size, batch: batchOf(r.dir, r.impl) },
          })),
        {
          unit: 'packets/s',
          higherIsBetter: true,
          baselineOf: (g) => (g.startsWith('recv') ? 'c-read' : 'c-write'),
          peerOf: () => 'appium',
          roleOf: (i) => (/^c-|^node-/.test(i) ? 'baseline' : i === 'appium' ? 'peer' : 'ours'),
        },
      ),
      idleCpuPercent,
      trials: results,
    },
    opt('--json'),
  );
}

// Packets per JS crossing: the batch size for the chart (null: per-packet
// system calls, where no batch applies).
function batchOf(dir, impl) {
  const m = /:(\d+)$/.exec(impl);
  if (m) return Number(m[1]);
  if (impl === 'vpn-batch' || impl === 'vpn-surface') return dir === 'recv' ? 256 : 64;
  if (impl === 'vpn-packet' || impl === 'vpn-single') return 1;
  return null;
}

main();
