#!/usr/bin/env node
'use strict';
// WireGuard benchmark (issue #19), one run, same machine:
//
// aead    the package's batch AEAD (AeadKey.seal / .open, one call per
//         256-packet batch of 1420-byte packets) against a plain C loop of
//         the same OpenSSL calls on the same batch (aead.c; the system's
//         libcrypto, the addon uses the OpenSSL inside node: both 3.0.x).
// tunnel  TCP through a WireGuard tunnel between two network namespaces
//         over a veth pair (iperf3, SECONDS each way): examples/wireguard
//         to itself (client on the vpnProvider surface, --server on the
//         other side), ours to wireguard-go, and wireguard-go to itself.
//         Every figure is a ratio to wireguard-go-to-wireguard-go measured
//         in the same repetition.
//
//   node bench/wireguard/run.js [--reps N] [--seconds S] [--only aead,tunnel] [--json FILE]
// Needs root, iperf3, wireguard-go and wireguard-tools (wg), a C compiler
// and libssl-dev.
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { option, progress, median, metrics, writeResults } = require('../common');

const root = path.join(__dirname, '..', '..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const reps = Number(option(argv, '--reps', quick ? 1 : 3));
const seconds = Number(option(argv, '--seconds', quick ? 3 : 5));
const only = option(argv, '--only', 'aead,tunnel').split(',');
const jsonFile = option(argv, '--json', undefined);

if (process.getuid() !== 0) {
  console.error('bench/wireguard: needs root (namespaces, TUN devices).');
  process.exit(2);
}
const onPath = (cmd) =>
  (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));
for (const tool of ['iperf3', 'wireguard-go', 'wg', 'cc']) {
  if (!onPath(tool)) {
    console.error(
      `bench/wireguard: ${tool} is not installed (apt install iperf3 wireguard-go wireguard-tools gcc libssl-dev).`,
    );
    process.exit(2);
  }
}

const bin = path.join(root, 'bench', 'bin', 'aead');
fs.mkdirSync(path.dirname(bin), { recursive: true });
execFileSync(
  'cc',
  ['-O2', '-Wall', '-Wno-unused-function', '-o', bin, path.join(__dirname, 'aead.c'), '-lcrypto'],
  {
    stdio: 'inherit',
  },
);

const json = (r) => JSON.parse(r.trim().split('\n').pop());
const ratio = (a, b) => median(a.map((x, i) => (x && b[i] ? x / b[i] : NaN)));
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

// --- aead ---------------------------------------------------------------------

function aead(results) {
  const modes = ['seal', 'open'];
  const total = reps * modes.length * 2;
  let done = 0;
  for (let rep = 0; rep < reps; rep++) {
    for (const mode of modes) {
      // Alternate which goes first: a neighbour's burst hits both.
      const order = rep % 2 ? ['js', 'c'] : ['c', 'js'];
      for (const impl of order) {
        progress(done++, total, `aead ${mode} ${impl}`);
        const args = [mode, '1420', '256', quick ? '0.5' : '1.5'];
        const out =
          impl === 'c'
            ? execFileSync(bin, args, { encoding: 'utf8' })
            : execFileSync(process.execPath, [path.join(__dirname, 'aead-trial.js'), ...args], {
                encoding: 'utf8',
              });
        const t = json(out);
        ((results[mode] ??= {})[impl] ??= []).push(t.bytes / t.cpu);
      }
    }
  }
  progress(total, total, 'aead done');
  console.log(
    '\nBatch AEAD, ChaCha20-Poly1305, 256 packets of 1420 bytes a call: GB per CPU-second (medians)',
  );
  console.log('| operation | C loop (aead.c) | AeadKey | x C loop |');
  console.log('|---|---:|---:|---:|');
  const summary = {};
  for (const mode of modes) {
    const r = results[mode];
    summary[mode] = ratio(r.js, r.c);
    console.log(
      `| ${mode} | ${fmt(median(r.c) / 1e9)} | ${fmt(median(r.js) / 1e9)} | ${fmt(summary[mode])} |`,
    );
  }
  return summary;
}

// --- tunnel -------------------------------------------------------------------

const tag = String(process.pid % 100000);
const NS = { a: `wgb-a-${tag}`, b: `wgb-b-${tag}` };
const keys = () => {
  const priv = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
  return { priv, pub: execFileSync('wg', ['pubkey'], { input: priv, encoding: 'utf8' }).trim() };
};
const ip = (...a) => execFileSync('ip', a, { encoding: 'utf8' });
const children = [];

function setup() {
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
  ip('netns', 'add', NS.a);
  ip('netns', 'add', NS.b);
  ip('-n', NS.a, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', NS.b);
  ip('-n', NS.a, 'addr', 'add', '192.0.2.1/24', 'dev', 'wan0');
  ip('-n', NS.b, 'addr', 'add', '192.0.2.2/24', 'dev', 'wan0');
  for (const ns of Object.values(NS)) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', 'wan0', 'up');
  }
}

function teardown() {
  // SIGTERM: wireguard-go removes its UAPI socket on the way out.
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGTERM');
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
}
process.on('SIGINT', () => {
  teardown();
  process.exit(130);
});

function start(ns, cmd, env = {}) {
  const c = spawn('ip', ['netns', 'exec', ns, ...cmd], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.push(c);
  const lines = [];
  let wake = null;
  readline.createInterface({ input: c.stdout }).on('line', (l) => {
    lines.push(l);
    wake?.();
  });
  let err = '';
  c.stderr.on('data', (d) => (err += d));
  c.ready = (pred) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${cmd.join(' ')}: not ready: ${err}`)), 20000);
      const check = () => {
        if (lines.some(pred)) {
          clearTimeout(t);
          resolve();
        } else if (c.exitCode !== null) {
          clearTimeout(t);
          reject(new Error(`${cmd.join(' ')} exited: ${err}`));
        } else wake = check;
      };
      check();
    });
  return c;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-provider-wgbench-'));
const PEER = path.join(root, 'examples', 'wireguard', 'peer.js');

// One side of the tunnel: `ours` (client or server) or `go`, in namespace ns.
async function side(kind, ns, me, them, addr, peerAddr, endpoint) {
  if (kind === 'go') {
    const name = `wgb${ns === NS.a ? 'a' : 'b'}${tag}`.slice(0, 15);
    const sock = `/var/run/wireguard/${name}.sock`;
    fs.rmSync(sock, { force: true }); // a killed one's: wg would find no daemon behind it
    start(ns, ['wireguard-go', '-f', name]);
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++)
      await new Promise((r) => setTimeout(r, 50));
    const keyFile = path.join(dir, `${name}.key`);
    fs.writeFileSync(keyFile, me.priv + '\n', { mode: 0o600 });
    const args = [
      'set',
      name,
      'private-key',
      keyFile,
      'listen-port',
      '51820',
      'peer',
      them.pub,
      'allowed-ips',
      `${peerAddr}/32`,
    ];
    if (endpoint) args.push('endpoint', endpoint);
    execFileSync('ip', ['netns', 'exec', ns, 'wg', ...args]);
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', name);
    ip('-n', ns, 'link', 'set', name, 'up');
    return;
  }
  const conf = path.join(dir, `${ns}.conf`);
  fs.writeFileSync(
    conf,
    `[Interface]\nPrivateKey = ${me.priv}\nAddress = ${addr}/24\nListenPort = 51820\n\n[Peer]\nPublicKey = ${them.pub}\nAllowedIPs = ${peerAddr}/32\n${endpoint ? `Endpoint = ${endpoint}\n` : ''}`,
    { mode: 0o600 },
  );
  const args = [process.execPath, PEER, '--config', conf, '--quiet'];
  if (!endpoint) args.push('--server', '--name', 'wgs0');
  const c = start(ns, args, { STATE_DIR: path.join(dir, `state-${ns}`) });
  await c.ready((l) => l.includes('"ready"'));
}

async function tunnel(pair) {
  setup();
  try {
    const a = keys();
    const b = keys();
    // b listens (ours: --server), a connects to it (ours: the client).
    await side(pair.b, NS.b, b, a, '198.18.7.2', '198.18.7.1', null);
    await side(pair.a, NS.a, a, b, '198.18.7.1', '198.18.7.2', '192.0.2.2:51820');
    const up = spawnSync('ip', [
      'netns',
      'exec',
      NS.a,
      'ping',
      '-c',
      '3',
      '-i',
      '0.2',
      '-W',
      '2',
      '198.18.7.2',
    ]);
    if (up.status !== 0) throw new Error('the tunnel carries no ping');
    const out = {};
    for (const way of ['up', 'down']) {
      const srv = start(NS.b, ['iperf3', '-s', '-1', '-B', '198.18.7.2']);
      await new Promise((r) => setTimeout(r, 300));
      const args = [
        'netns',
        'exec',
        NS.a,
        'iperf3',
        '-c',
        '198.18.7.2',
        '-t',
        String(seconds),
        '-J',
      ];
      if (way === 'down') args.push('-R');
      const r = spawnSync('ip', args, { encoding: 'utf8', timeout: (seconds + 20) * 1000 });
      srv.kill();
      const j = JSON.parse(r.stdout);
      out[way] = j.end.sum_received.bits_per_second;
    }
    return out;
  } finally {
    teardown();
  }
}

const PAIRS = [
  { id: 'go-go', a: 'go', b: 'go', label: 'wireguard-go to wireguard-go' },
  { id: 'ours-ours', a: 'ours', b: 'ours', label: 'ours (client) to ours (--server)' },
  { id: 'ours-go', a: 'ours', b: 'go', label: 'ours (client) to wireguard-go' },
];

async function tunnels() {
  const results = {};
  const total = reps * PAIRS.length;
  let done = 0;
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 ? [...PAIRS].reverse() : PAIRS;
    for (const p of order) {
      progress(done++, total, `tunnel ${p.id}`);
      let r = null;
      try {
        r = await tunnel(p);
      } catch (err) {
        console.error(`\n${p.id}: ${err.message}`);
      }
      for (const d of ['up', 'down']) ((results[p.id] ??= {})[d] ??= [])[rep] = r ? r[d] : NaN;
    }
  }
  progress(total, total, 'tunnel done');
  console.log(
    `\nTCP through the tunnel (iperf3, ${seconds} s each way; medians; ratios: median of per-repetition ratios to wireguard-go to wireguard-go)`,
  );
  console.log('| pair | up Gbit/s | x go-go | down Gbit/s | x go-go |');
  console.log('|---|---:|---:|---:|---:|');
  const summary = {};
  for (const p of PAIRS) {
    const r = results[p.id];
    const row = {
      up: median(r.up),
      down: median(r.down),
      upVsGo: ratio(r.up, results['go-go'].up),
      downVsGo: ratio(r.down, results['go-go'].down),
    };
    summary[p.id] = row;
    console.log(
      `| ${p.label} | ${fmt(row.up / 1e9)} | ${fmt(row.upVsGo)} | ${fmt(row.down / 1e9)} | ${fmt(row.downVsGo)} |`,
    );
  }
  return { summary, results };
}

// The harness's shape (bench/common.js metrics): one trial per
// implementation and repetition, ratios to the baseline of the same one.
function trialsOf(aeadRaw, tunnelRaw) {
  const trials = [];
  for (const [mode, byImpl] of Object.entries(aeadRaw ?? {}))
    for (const [impl, xs] of Object.entries(byImpl))
      xs.forEach((v, rep) =>
        trials.push({
          group: `aead ${mode}`,
          impl: impl === 'c' ? 'c-loop' : 'aeadkey',
          rep,
          value: v,
        }),
      );
  const tcp = [];
  for (const [pair, byDir] of Object.entries(tunnelRaw ?? {}))
    for (const [dir, xs] of Object.entries(byDir))
      xs.forEach((v, rep) => tcp.push({ group: `tcp ${dir}`, impl: pair, rep, value: v }));
  return [
    ...metrics('wireguard', trials, {
      unit: 'bytes/CPU-s',
      higherIsBetter: true,
      baselineOf: () => 'c-loop',
    }),
    ...metrics('wireguard', tcp, {
      unit: 'bit/s',
      higherIsBetter: true,
      baselineOf: () => 'go-go',
    }),
  ];
}

(async () => {
  const out = {};
  const aeadRaw = {};
  try {
    if (only.includes('aead')) out.aead = aead(aeadRaw);
    if (only.includes('tunnel')) out.tunnel = await tunnels();
  } finally {
    teardown();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const targets = [];
  if (out.aead)
    targets.push(
      `batch AEAD >= 0.8x the C loop: seal ${fmt(out.aead.seal)}x, open ${fmt(out.aead.open)}x`,
    );
  if (out.tunnel) {
    const s = out.tunnel.summary['ours-ours'];
    targets.push(
      `ours-to-ours >= 2x wireguard-go-to-wireguard-go: up ${fmt(s.upVsGo)}x, down ${fmt(s.downVsGo)}x`,
    );
  }
  console.log(`\nTargets (#19): ${targets.join('; ')}`);
  out.metrics = trialsOf(aeadRaw, out.tunnel?.results);
  writeResults('wireguard', { reps, seconds, ...out }, jsonFile);
})().catch((err) => {
  console.error(err);
  teardown();
  process.exit(1);
});
