#!/usr/bin/env node
'use strict';
// The packet-path chart (SVG, no dependencies): packets/s against the batch
// size (packets per JS call in, per sendPackets call out), one panel per
// direction and packet size, one line per implementation. packets/s of one
// busy core (packets per CPU-second), or of wall time with --wall. Baselines and
// per-packet implementations make one system call per packet whatever the
// batch, so they are level lines; vpn-surface is a point at its batch size.
//   node bench/chart.js [bench/results/<date>.json] [--out bench/chart.svg] [--wall]
// (default: the newest result in bench/results/ that has the packet sweep).
const fs = require('node:fs');
const path = require('node:path');
const { option } = require('./common');

const COLORS = {
  'vpn-batch': '#1f6feb',
  'vpn-surface': '#8957e5',
  'vpn-packet': '#bf3989',
  'vpn-single': '#bf3989',
  'c-read': '#1a7f37',
  'c-write': '#1a7f37',
  'node-readsync': '#9a6700',
  'node-writesync': '#9a6700',
  appium: '#cf222e',
};
const LABELS = {
  'vpn-batch': 'vpn-batch (TunDevice batches)',
  'vpn-surface': 'vpn-surface (vpnProvider, default batch)',
  'vpn-packet': 'vpn-packet (Chrome per-packet event)',
  'vpn-single': 'vpn-single (sendPacket per packet)',
  'c-read': 'C read() loop',
  'c-write': 'C write() loop',
  'node-readsync': 'plain Node fs.readSync',
  'node-writesync': 'plain Node fs.writeSync',
  appium: 'npm peer appium-ios-tuntap',
};

const esc = (s) =>
  String(s).replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c],
  );
// The smallest of 1, 2, 2.5, 5 × a power of ten that is at least x.
function niceStep(x) {
  const p = 10 ** Math.floor(Math.log10(x));
  return [1, 2, 2.5, 5, 10].find((m) => m * p >= x) * p;
}
const kfmt = (v) => (v >= 1e6 ? `${+(v / 1e6).toFixed(2)}M` : `${Math.round(v / 1e3)}k`);

/**
 * The SVG text for a harness result (its packet metrics). y: packets per
 * CPU-second charged to the trial's process (the rate of one busy core;
 * default: on a shared machine it moves far less than wall time), or with
 * wall: true, packets per second of wall time.
 */
function chart(result, { wall = false } = {}) {
  const ms = result.metrics
    .filter((m) => m.suite === 'packet')
    .map((m) => ({ ...m, value: wall ? m.value : 1 / m.cost }))
    .filter((m) => Number.isFinite(m.value));
  const groups = ['recv 64B', 'recv 1400B', 'send 64B', 'send 1400B'].filter((g) =>
    ms.some((m) => m.group === g),
  );
  const batches = [...new Set(ms.map((m) => m.params.batch).filter((b) => b))].sort(
    (a, b) => a - b,
  );
  const bmin = Math.min(1, ...batches);
  const bmax = Math.max(256, ...batches);
  const W = 460;
  const H = 300;
  const pad = { l: 60, r: 16, t: 34, b: 44 };
  const cols = 2;
  const legendH = 190;
  const width = cols * W;
  const height = Math.ceil(groups.length / cols) * H + legendH + 40;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
  );
  const m = result.machine;
  out.push(
    `<text x="10" y="22" font-size="15" font-weight="bold">Packet path: ${wall ? 'packets/s (wall time)' : 'packets/s of one busy core (packets per CPU-second)'} against batch size</text>`,
    `<text x="10" y="40" fill="#555">${esc(`${result.date.slice(0, 10)}, ${m.cpus} × ${m.model}, Linux ${m.kernel}, Node ${m.node}: ${result.command}`)}</text>`,
  );
  const impls = new Set();
  groups.forEach((g, gi) => {
    const x0 = (gi % cols) * W;
    const y0 = 50 + Math.floor(gi / cols) * H;
    const gm = ms.filter((x) => x.group === g);
    const step = niceStep((Math.max(...gm.map((x) => x.value)) * 1.05) / 4);
    const ymax = step * 4;
    const px = (b) =>
      x0 +
      pad.l +
      ((Math.log2(b) - Math.log2(bmin)) / (Math.log2(bmax) - Math.log2(bmin))) *
        (W - pad.l - pad.r);
    const py = (v) => y0 + H - pad.b - (v / ymax) * (H - pad.t - pad.b);
    out.push(`<text x="${x0 + pad.l}" y="${y0 + 22}" font-weight="bold">${esc(g)} payload</text>`);
    // Axes, grid, ticks.
    for (let k = 0; k <= 4; k++) {
      const v = (ymax / 4) * k;
      out.push(
        `<line x1="${x0 + pad.l}" x2="${x0 + W - pad.r}" y1="${py(v)}" y2="${py(v)}" stroke="#e5e5e5"/>`,
        `<text x="${x0 + pad.l - 6}" y="${py(v) + 4}" text-anchor="end" fill="#555">${kfmt(v)}</text>`,
      );
    }
    for (let b = bmin; b <= bmax; b *= 2) {
      out.push(
        `<line x1="${px(b)}" x2="${px(b)}" y1="${py(0)}" y2="${py(0) + 4}" stroke="#555"/>`,
        `<text x="${px(b)}" y="${py(0) + 16}" text-anchor="middle" fill="#555">${b}</text>`,
      );
    }
    out.push(
      `<text x="${x0 + pad.l + (W - pad.l - pad.r) / 2}" y="${y0 + H - 8}" text-anchor="middle" fill="#555">packets per call (log scale)</text>`,
      `<line x1="${x0 + pad.l}" x2="${x0 + W - pad.r}" y1="${py(0)}" y2="${py(0)}" stroke="#555"/>`,
    );
    // One line per implementation.
    const byImpl = new Map();
    for (const x of gm) {
      const impl = x.impl.split(':')[0];
      if (!byImpl.has(impl)) byImpl.set(impl, []);
      byImpl.get(impl).push(x);
    }
    for (const [impl, pts] of byImpl) {
      impls.add(impl);
      const color = COLORS[impl] ?? '#444';
      const r = wall ? 'ratio' : 'cpuRatio';
      const title = (x) =>
        `${x.impl}: ${kfmt(x.value)} packets/s, ${Number.isFinite(x[r]) ? x[r].toFixed(2) : '-'} × ${x.baseline}`;
      if (pts.length === 1 && pts[0].params.batch == null) {
        const x = pts[0];
        const dash = x.role === 'ours' ? '' : ' stroke-dasharray="6 4"';
        out.push(
          `<line x1="${px(bmin)}" x2="${px(bmax)}" y1="${py(x.value)}" y2="${py(x.value)}" stroke="${color}" stroke-width="2"${dash}><title>${esc(title(x))}</title></line>`,
        );
        continue;
      }
      const sorted = pts
        .filter((x) => x.params.batch)
        .sort((a, b) => a.params.batch - b.params.batch);
      if (sorted.length > 1) {
        out.push(
          `<polyline fill="none" stroke="${color}" stroke-width="2" points="${sorted.map((x) => `${px(x.params.batch).toFixed(1)},${py(x.value).toFixed(1)}`).join(' ')}"/>`,
        );
      }
      for (const x of sorted) {
        out.push(
          `<circle cx="${px(x.params.batch).toFixed(1)}" cy="${py(x.value).toFixed(1)}" r="4" fill="${color}"><title>${esc(title(x))}</title></circle>`,
        );
      }
    }
  });
  // Legend.
  const ly = 50 + Math.ceil(groups.length / cols) * H + 10;
  [...impls].forEach((impl, i) => {
    const x = 20 + (i % 2) * (width / 2);
    const y = ly + Math.floor(i / 2) * 20;
    const color = COLORS[impl] ?? '#444';
    const level = ms.some((p) => p.impl === impl && p.params.batch == null);
    const dash = level && !/^vpn-/.test(impl) ? ' stroke-dasharray="6 4"' : '';
    out.push(
      `<line x1="${x}" x2="${x + 30}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${x + 38}" y="${y + 4}">${esc(LABELS[impl] ?? impl)}</text>`,
    );
  });
  const notes = [
    'Dashed: baselines, one system call per packet whatever the batch size.',
    'Points alone: one packet per call (vpn-packet, vpn-single), or the default batch (vpn-surface).',
    `One UDP packet per TUN read or write; medians of the repetitions. ${wall ? 'All' : 'Wall-clock packets/s and all'} ratios: bench/results/<date>.md`,
  ];
  notes.forEach((n, k) => {
    out.push(
      `<text x="20" y="${ly + Math.ceil(impls.size / 2) * 20 + 14 + 18 * k}" fill="#555">${esc(n)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function newestWithSweep(dir) {
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^\d.*\.json$/.test(f))
    .sort()
    .reverse();
  for (const f of files) {
    const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (r.metrics?.some((m) => m.suite === 'packet' && /:\d+$/.test(m.impl)))
      return path.join(dir, f);
  }
  return null;
}

module.exports = { chart };

if (require.main === module) {
  const argv = process.argv.slice(2);
  const dir = path.join(__dirname, 'results');
  const from = argv.find((a) => !a.startsWith('--') && argv[argv.indexOf(a) - 1] !== '--out');
  const file = from ?? newestWithSweep(dir);
  if (!file) {
    console.error(
      'bench/chart: no result with the packet sweep in bench/results/: run npm run bench',
    );
    process.exit(2);
  }
  const outFile = option(argv, '--out', path.join(__dirname, 'chart.svg'));
  const svg = chart(JSON.parse(fs.readFileSync(file, 'utf8')), { wall: argv.includes('--wall') });
  fs.writeFileSync(outFile, svg);
  console.log(
    `wrote ${path.relative(process.cwd(), outFile)} from ${path.relative(process.cwd(), file)}`,
  );
}
