#!/usr/bin/env node
'use strict';
// Soak: packets both ways through a tunnel for a long time, then many
// connect/disconnect cycles, in a network namespace of its own (unshare
// --net: the kernel deletes it and everything in it when the run ends).
//
//   sudo npm run soak -- [--packets N] [--cycles N] [--json FILE]
//                        (defaults: 10000000 packets each way, 1000 cycles)
//
// The measured process (scripts/soak/vpn.js) is a provider on a platform
// that reflects every packet the system sends into the tunnel back out of
// it. This process sends UDP datagrams into the tunnel and counts the
// echoes, keeping a window of them in flight, until N packets went each way
// through the tunnel (the device's counters). It samples the measured
// process's RSS and open fds from /proc every second. Then the measured
// process runs the cycles, and the namespace is searched for what they
// could have left: TUN links, rules and routes of the session's table.
//
// Checks, each a line of the report and a non-zero status if it fails:
// RSS growth after warm-up (the first 10% of the packets) under 5 MB, the
// fd count constant, N packets each way, and after the cycles no link,
// rule, route, fd or listener more than before.
const { spawn, spawnSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const common = require('../bench/common');

const argv = process.argv.slice(2);
const option = (name, dflt) => common.option(argv, name, dflt);
const PACKETS = Number(option('--packets', 10_000_000));
const CYCLES = Number(option('--cycles', 1000));
const JSON_FILE = option('--json');
const RSS_LIMIT = 5 * 1024 * 1024;
const WINDOW = 512; // echoes in flight
const TABLE = '30100';
const INNER = 'VPN_PROVIDER_SOAK_NETNS';

// ------------------------------------------------- into a namespace first

if (!process.env[INNER]) {
  if (process.getuid() !== 0) {
    console.error('soak: needs root (it creates TUN devices, in a network namespace of its own)');
    process.exit(2);
  }
  // The sanitizer preload, if any, is for the measured process only (not
  // for unshare or ip): passed on under another name.
  const env = {
    ...process.env,
    [INNER]: '1',
    VPN_PROVIDER_SOAK_PRELOAD: process.env.LD_PRELOAD ?? '',
  };
  delete env.LD_PRELOAD;
  const r = spawnSync('unshare', ['--net', '--', process.execPath, __filename, ...argv], {
    stdio: 'inherit',
    env,
  });
  process.exit(r.status ?? 1);
}

// ------------------------------------------------------------ in the namespace

const plainEnv = { ...process.env };
delete plainEnv.LD_PRELOAD;
const ip = (...args) => spawnSync('ip', args, { encoding: 'utf8', env: plainEnv }).stdout.trim();

function leftovers() {
  const links = JSON.parse(ip('-j', '-d', 'link', 'show') || '[]')
    .filter((l) => l.linkinfo?.info_kind === 'tun')
    .map((l) => l.ifname);
  const rules = [];
  const routes = [];
  for (const family of ['-4', '-6']) {
    for (const r of JSON.parse(ip(family, '-j', 'rule', 'show') || '[]')) {
      if (String(r.table) === TABLE) rules.push(`${family} ${r.priority}`);
    }
    const out = ip(family, 'route', 'show', 'table', TABLE);
    if (out) routes.push(...out.split('\n'));
  }
  return { links, rules, routes };
}

function proc(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    rss: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) * 1024,
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
  };
}

const MB = (b) => (b / 1048576).toFixed(2);
let sanitized = false;

async function main() {
  ip('link', 'set', 'lo', 'up');
  const childEnv = { ...process.env };
  if (process.env.VPN_PROVIDER_SOAK_PRELOAD)
    childEnv.LD_PRELOAD = process.env.VPN_PROVIDER_SOAK_PRELOAD;
  sanitized = Boolean(childEnv.LD_PRELOAD);
  const child = spawn(process.execPath, [path.join(__dirname, 'soak', 'vpn.js')], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: childEnv,
  });
  const answers = [];
  let waiting = null;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const m = JSON.parse(line);
    if (m.log || m.error) console.error(`soak: vpn: ${m.log ?? m.error}`);
    if (m.error) process.exitCode = 1;
    if (m.log) return;
    answers.push(m);
    if (waiting) waiting();
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  const next = () =>
    new Promise((resolve, reject) => {
      const take = () => {
        waiting = null;
        resolve(answers.shift());
      };
      if (answers.length) return take();
      waiting = take;
      void exited.then((code) => reject(new Error(`the measured process exited (${code})`)));
    });
  const ask = (cmd) => {
    child.stdin.write(`${cmd}\n`);
    return next();
  };
  const ready = await next();
  if (!ready.ready) throw new Error(`the measured process did not start: ${JSON.stringify(ready)}`);
  const pid = child.pid;
  console.log(`soak: tunnel ${ready.ready}; ${PACKETS} packets each way, then ${CYCLES} cycles`);

  // ---------------------------------------------------------------- packets
  const sock = dgram.createSocket({
    type: 'udp4',
    recvBufferSize: 8 << 20,
    sendBufferSize: 8 << 20,
  });
  await new Promise((r) => sock.bind(0, '0.0.0.0', r));
  let sent = 0;
  let echoed = 0;
  sock.on('message', () => echoed++);
  sock.on('error', () => {});
  const payload = Buffer.alloc(64, 0x5a);
  const samples = [];
  const t0 = Date.now();
  let stats = { rx: 0, tx: 0 };
  let warm = -1; // the index of the first sample after warm-up
  const sample = async () => {
    stats = await ask('stats');
    const p = proc(pid);
    samples.push({ t: Date.now() - t0, rx: stats.rx, tx: stats.tx, ...p });
    if (warm < 0 && Math.min(stats.rx, stats.tx) >= PACKETS / 10) warm = samples.length - 1;
    if (process.stderr.isTTY) {
      process.stderr.write(
        `\r  ${stats.rx} in, ${stats.tx} out, RSS ${MB(p.rss)} MB, ${p.fds} fds    `,
      );
    }
  };
  let lastSample = Date.now();
  let lastProgress = { echoed: 0, at: Date.now() };
  await sample();
  while (Math.min(stats.rx, stats.tx) < PACKETS) {
    // Keep up to WINDOW datagrams in flight; 198.18.0.0/15 goes into the tunnel.
    const room = WINDOW - (sent - echoed);
    for (let i = 0; i < room; i++) {
      sock.send(payload, 9 + (sent & 1023), `198.18.${(sent >> 8) & 255}.${sent & 255}`);
      sent++;
    }
    await new Promise((r) => setImmediate(r));
    const now = Date.now();
    if (echoed !== lastProgress.echoed) lastProgress = { echoed, at: now };
    else if (now - lastProgress.at > 200) {
      sent = echoed; // lost in a queue: count them lost, go on
      lastProgress.at = now;
    }
    if (now - lastSample >= 1000) {
      lastSample = now;
      await sample();
    }
  }
  await sample();
  sock.close();
  const seconds = (Date.now() - t0) / 1000;
  if (process.stderr.isTTY) process.stderr.write('\n');
  const after = samples.slice(Math.max(0, warm));
  const rssBase = after[0].rss;
  const rssEnd = after[after.length - 1].rss;
  const rssMax = Math.max(...after.map((s) => s.rss));
  const fdsSeen = [...new Set(samples.map((s) => s.fds))];

  // ----------------------------------------------------------------- cycles
  // fds compared connected with connected: before, and after the cycles
  // (which end disconnected) and one more connect.
  const beforeCycles = proc(pid);
  const c0 = Date.now();
  const cyc = await ask(`cycles ${CYCLES}`);
  const cyclesSeconds = (Date.now() - c0) / 1000;
  const left = leftovers();
  const again = await ask('connect');
  const afterCycles = proc(pid);
  child.stdin.end();
  const code = await exited;

  const checks = [
    [`packets into the tunnel >= ${PACKETS}`, stats.rx >= PACKETS, `${stats.rx}`],
    [`packets out of the tunnel >= ${PACKETS}`, stats.tx >= PACKETS, `${stats.tx}`],
    [
      'RSS growth after warm-up < 5 MB',
      // Under ASan, freed memory waits in its quarantine (256 MB): no RSS check.
      sanitized || (rssEnd - rssBase < RSS_LIMIT && rssMax - rssBase < RSS_LIMIT),
      `${MB(rssEnd - rssBase)} MB at the end, ${MB(rssMax - rssBase)} MB at most (base ${MB(rssBase)} MB)` +
        (sanitized ? ' [not checked: a sanitized run]' : ''),
    ],
    ['fd count constant during the packets', fdsSeen.length === 1, `${fdsSeen.join(', ')}`],
    [
      `${CYCLES} cycles: no fd more`,
      afterCycles.fds === beforeCycles.fds,
      `${beforeCycles.fds} before, ${afterCycles.fds} after (each connected)`,
    ],
    [
      `${CYCLES} cycles: no listener more`,
      JSON.stringify(cyc.listeners) === JSON.stringify(ready.listeners),
      `${JSON.stringify(cyc.listeners)} (before connecting: ${JSON.stringify(ready.listeners)})`,
    ],
    [
      `${CYCLES} cycles: no link, rule or route left`,
      left.links.length + left.rules.length + left.routes.length === 0,
      JSON.stringify(left),
    ],
    [
      'a session works after the cycles',
      typeof again.connected === 'string',
      JSON.stringify(again),
    ],
    ['the measured process ends cleanly', code === 0, `exit ${code}`],
  ];
  const report = {
    packets: PACKETS,
    cycles: CYCLES,
    rx: stats.rx,
    tx: stats.tx,
    sent,
    echoed,
    seconds,
    packetsPerSecond: Math.round(Math.min(stats.rx, stats.tx) / seconds),
    rss: {
      base: rssBase,
      end: rssEnd,
      max: rssMax,
      growth: rssEnd - rssBase,
      maxGrowth: rssMax - rssBase,
    },
    fds: { during: fdsSeen, beforeCycles: beforeCycles.fds, afterCycles: afterCycles.fds },
    cyclesSeconds,
    msPerCycle: (cyclesSeconds * 1000) / CYCLES,
    leftovers: left,
    listeners: { before: ready.listeners, after: cyc.listeners },
    sanitized,
    listenersConnected: stats.listeners,
    checks: checks.map(([what, ok, detail]) => ({ what, ok, detail })),
  };
  console.log(
    `soak: ${stats.rx} in / ${stats.tx} out in ${seconds.toFixed(0)} s ` +
      `(${report.packetsPerSecond} packets/s each way), ${CYCLES} cycles in ${cyclesSeconds.toFixed(1)} s ` +
      `(${report.msPerCycle.toFixed(1)} ms each)`,
  );
  for (const [what, ok, detail] of checks)
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}: ${detail}`);
  if (JSON_FILE) fs.writeFileSync(JSON_FILE, JSON.stringify(report, null, 2) + '\n');
  if (checks.some(([, ok]) => !ok)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`soak: ${err.stack ?? err}`);
  process.exit(1);
});
