'use strict';
// One trial of the platform benchmark, in a fresh process inside the private
// network namespace bench/platform/run.js starts it in. Prints one JSON line.
//
//   ours-connect N     connect -> setParameters (N routes) -> first packet through
//   ip-spawn N         the same configuration by spawning `ip` once per command
//   ip-batch N         the same configuration with one `ip -batch`
//   ours-apply N       setParameters with N routes (an existing session)
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const dgram = require('node:dgram');
const path = require('node:path');

const { benchPlatform, pkg } = require('../common');
const { native } = require(path.join(pkg, 'dist', 'native'));

const [mode, nArg] = process.argv.slice(2);
const n = Number(nArg);
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
// CPU ms of this process (ours: the kernel's netlink work runs in our system
// calls) and of its waited-for children (ip), from /proc (10 ms ticks).
function cpuMs() {
  const f = fs.readFileSync('/proc/self/stat', 'utf8');
  const p = f.slice(f.lastIndexOf(')') + 2).split(' ');
  const self = process.cpuUsage();
  return {
    self: (self.user + self.system) / 1000,
    children: (Number(p[13]) + Number(p[14])) * TICK_MS, // cutime + cstime (fields 16, 17)
  };
}
const u32ToIp = (v) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
// N distinct /30s in 198.18.0.0/15.
const routes = (count) =>
  Array.from({ length: count }, (_, i) => `${u32ToIp(((198 << 24) | (18 << 16)) + i * 4)}/30`);

async function ours(connect) {
  const bench = await benchPlatform();
  const { platform, vpn } = bench;
  const params = {
    address: '10.200.0.2/24',
    exclusionList: [],
    inclusionList: routes(n),
    dnsServers: [],
  };
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, r));
  let result;
  let c0;
  if (connect) {
    c0 = cpuMs();
    const t0 = process.hrtime.bigint();
    const first = new Promise((resolve) => {
      vpn.onPacketsReceived.addListener((batch) => {
        for (let i = 0; i < batch.count; i++) if (batch.packet(i)[9] === 17) resolve();
      });
    });
    vpn.onPlatformMessage.addListener((_id, m) => {
      if (m !== 'connected') return;
      vpn.setParameters(params).then(() => sock.send(Buffer.alloc(10), 9, '198.18.0.1'));
    });
    await platform.connect('bench', 'c');
    await first;
    result = { ms: ms(t0), cpuMs: cpuMs().self - c0.self };
  } else {
    await platform.connect('bench', 'c');
    c0 = cpuMs();
    const t0 = process.hrtime.bigint();
    await vpn.setParameters(params);
    result = { ms: ms(t0), cpuMs: cpuMs().self - c0.self };
  }
  sock.close();
  await bench.close();
  return result;
}

function ipCommands() {
  return [
    ['tuntap', 'add', 'mode', 'tun', 'name', 'ipb0'],
    ['addr', 'add', '10.200.0.2/24', 'dev', 'ipb0'],
    ['link', 'set', 'ipb0', 'mtu', '1500', 'up'],
    ...routes(n).map((r) => ['route', 'add', r, 'dev', 'ipb0', 'table', '30100']),
    ['rule', 'add', 'priority', '30100', 'table', '30100'],
  ];
}

function ipSpawn() {
  const c0 = cpuMs();
  const t0 = process.hrtime.bigint();
  for (const args of ipCommands()) execFileSync('ip', args);
  return { ms: ms(t0), cpuMs: cpuMs().children - c0.children };
}

function ipBatch() {
  const input =
    ipCommands()
      .map((a) => a.join(' '))
      .join('\n') + '\n';
  const c0 = cpuMs();
  const t0 = process.hrtime.bigint();
  const r = spawnSync('ip', ['-batch', '-'], { input });
  if (r.status !== 0) throw new Error(String(r.stderr));
  return { ms: ms(t0), cpuMs: cpuMs().children - c0.children };
}

(async () => {
  await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  const fn = {
    'ours-connect': () => ours(true),
    'ours-apply': () => ours(false),
    'ip-spawn': ipSpawn,
    'ip-batch': ipBatch,
  }[mode];
  if (!fn) throw new Error(`unknown mode ${mode}`);
  const r = await fn();
  process.stdout.write(JSON.stringify({ mode, routes: n, ...r }) + '\n');
  process.exit(0);
})().catch((err) => {
  process.stderr.write(`trial ${mode}: ${err && err.stack}\n`);
  process.exit(1);
});
