#!/usr/bin/env node
'use strict';
// npm run demo: a real userspace VPN between two network namespaces that the
// demo creates and deletes. The server (examples/server.js) holds a TUN
// device, a UdpSocket and a RouteTable; the client (examples/client.js) uses
// the vpnProvider surface and a UdpSocket. Packets travel as wire-size UDP
// datagrams (never fragmented: the demo counts IP fragments in both
// namespaces) over a veth pair (192.0.2.0/24 and 2001:db8:f::/64, "the
// internet"); the tunnel network is 198.18.0.0/24 and 2001:db8:18::/64.
// Then it measures latency and a bulk TCP transfer through the tunnel, with
// live rates.
//   node scripts/demo.js [--json] [--direct] [--dgram] [--no-offload] [--ipv6]
// --json: a last line of JSON with the figures (bench/tunnel runs it so);
// --direct: then the same echo and transfer straight over the veth pair, no
// tunnel (the kernel's path between the namespaces: the baseline);
// --dgram: the same tunnel with Node's dgram for the UDP side;
// --no-offload: the TUN devices without TSO/USO; --ipv6: the tunnel's
// datagrams over IPv6.
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const root = path.join(__dirname, '..');
const SECONDS = Number(process.env.DEMO_SECONDS || 5);
// --no-offload: both tunnel devices without TSO/USO (examples read OFFLOAD).
if (process.argv.includes('--no-offload')) process.env.OFFLOAD = '0';
const OFFLOAD = process.env.OFFLOAD !== '0';
const JSON_OUT = process.argv.includes('--json');
const DIRECT = process.argv.includes('--direct');
const DGRAM = process.argv.includes('--dgram');
// --c-relay: bench/tunnel/relay.cc at both ends (the C baseline of
// bench/tunnel, which builds it into bench/bin/relay).
const C_RELAY = process.argv.includes('--c-relay');
const RELAY = path.join(root, 'bench', 'bin', 'relay');
const IPV6 = process.argv.includes('--ipv6');
const SERVER_ADDRESS = IPV6 ? '2001:db8:f::2' : '192.0.2.2';
const SERVER = C_RELAY
  ? RELAY
  : DGRAM
    ? path.join(__dirname, 'demo', 'dgram-server.js')
    : path.join(root, 'examples', 'server.js');
const CLIENT = C_RELAY
  ? RELAY
  : DGRAM
    ? path.join(__dirname, 'demo', 'dgram-client.js')
    : path.join(root, 'examples', 'client.js');
const TRANSPORT = C_RELAY ? 'c-relay' : DGRAM ? 'dgram' : 'udp-socket';
if (C_RELAY && !fs.existsSync(RELAY)) {
  console.error('--c-relay needs bench/bin/relay: npm run bench:tunnel builds it.');
  process.exit(1);
}

if (process.getuid() !== 0) {
  console.error(
    'npm run demo needs root: it creates network namespaces and TUN devices (sudo npm run demo).',
  );
  process.exit(1);
}
if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('npm run demo needs the built package: run npm install first.');
  process.exit(1);
}

const tag = String(process.pid);
const ns = { client: `vpndemo-c-${tag}`, server: `vpndemo-s-${tag}` };
const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-provider-demo-'));
const children = [];
const tty = process.stdout.isTTY;
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

// ip runs without a sanitizer preload (a sanitized test run checks our code, not ip's).
const plainEnv = { ...process.env };
delete plainEnv.LD_PRELOAD;
const ip = (...args) =>
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], env: plainEnv });
const inNs = (name, ...args) => ip('netns', 'exec', name, ...args);

function cleanup() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const name of Object.values(ns))
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', env: plainEnv });
  fs.rmSync(stateDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

/**
 * Wire-size packets through a device both ways, from its counters: a
 * super-packet read counts as the segments it carries (txPackets already
 * counts them).
 */
function wirePackets(c) {
  return c.rxPackets - c.rxSuperPackets + c.rxSegments + c.txPackets;
}

/** Starts a node script in a namespace; resolves its JSON lines one by one. */
/** Starts a node script (or, for a path in bench/bin, a program) in a namespace. */
function start(name, script, args, env = {}) {
  const cmd = script.includes(`${path.sep}bin${path.sep}`) ? [script] : [process.execPath, script];
  const c = spawn('ip', ['netns', 'exec', name, ...cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env }, // ip netns exec becomes node: keep any preload
  });
  children.push(c);
  let stderr = '';
  c.stderr.on('data', (d) => (stderr += d));
  const lines = readline.createInterface({ input: c.stdout });
  const listeners = new Set();
  lines.on('line', (l) => {
    let msg;
    try {
      msg = JSON.parse(l);
    } catch {
      return;
    }
    for (const f of listeners) f(msg);
  });
  const until = (pred, what) =>
    new Promise((resolve, reject) => {
      const f = (m) => {
        if (m.error) reject(new Error(`${path.basename(script)}: ${m.error}`));
        else if (pred(m)) {
          listeners.delete(f);
          resolve(m);
        }
      };
      listeners.add(f);
      c.once('exit', (code) =>
        reject(
          new Error(`${path.basename(script)} exited (${code}) before ${what}: ${stderr.trim()}`),
        ),
      );
    });
  return { proc: c, until, on: (f) => listeners.add(f) };
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const p = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(p[11]) + Number(p[12])) / CLOCK_TICKS; // utime + stime (fields 14, 15)
  } catch {
    return NaN;
  }
}

const mbit = (bytes, ms) => (bytes * 8) / (ms / 1000) / 1e6;

/** IP fragments made and reassembled so far in a namespace (IPv4 and IPv6). */
function fragments(name) {
  const read = (file) =>
    execFileSync('ip', ['netns', 'exec', name, 'cat', file], { encoding: 'utf8', env: plainEnv });
  const snmp = read('/proc/net/snmp').split('\n');
  const head = snmp.find((l) => l.startsWith('Ip: Forwarding')).split(/\s+/);
  const vals = snmp.filter((l) => l.startsWith('Ip: '))[1].split(/\s+/);
  const v4 = (k) => Number(vals[head.indexOf(k)]);
  const six = Object.fromEntries(
    read('/proc/net/snmp6')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s+/)),
  );
  return {
    made: v4('FragCreates') + Number(six.Ip6FragCreates ?? 0),
    reassembled: v4('ReasmReqds') + Number(six.Ip6ReasmReqds ?? 0),
  };
}

async function main() {
  console.log(
    'setting up two network namespaces: client and server, joined by a veth pair (192.0.2.0/24)',
  );
  ip('netns', 'add', ns.client);
  ip('netns', 'add', ns.server);
  // The veth pair is made inside the client namespace, its peer straight in
  // the server's: nothing is created in this machine's own namespace.
  inNs(
    ns.client,
    'ip',
    'link',
    'add',
    'wan0',
    'type',
    'veth',
    'peer',
    'name',
    'wan0',
    'netns',
    ns.server,
  );
  inNs(ns.client, 'ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'wan0');
  inNs(ns.server, 'ip', 'addr', 'add', '192.0.2.2/24', 'dev', 'wan0');
  inNs(ns.client, 'ip', 'addr', 'add', '2001:db8:f::1/64', 'dev', 'wan0', 'nodad');
  inNs(ns.server, 'ip', 'addr', 'add', '2001:db8:f::2/64', 'dev', 'wan0', 'nodad');
  for (const name of Object.values(ns)) {
    inNs(name, 'ip', 'link', 'set', 'lo', 'up');
    inNs(name, 'ip', 'link', 'set', 'wan0', 'up');
  }

  const frag0 = { client: fragments(ns.client), server: fragments(ns.server) };
  const server = start(ns.server, SERVER, C_RELAY ? ['server', '51820'] : []);
  const ready = await server.until((m) => m.ready, 'it was ready');
  console.log(
    `server: ${ready.ready} 198.18.0.1/24 2001:db8:18::1/64 (MTU ${ready.mtu}), listening on ${ready.listen}` +
      (DGRAM ? " with Node's dgram" : C_RELAY ? ' (the C relay)' : ''),
  );
  const sink = start(ns.server, path.join(__dirname, 'demo', 'load.js'), ['sink', '198.18.0.1']);
  await sink.until((m) => m.ready, 'it was ready');

  const client = start(ns.client, CLIENT, C_RELAY ? ['client', SERVER_ADDRESS, '51820'] : [], {
    STATE_DIR: stateDir,
    SERVER_ADDRESS,
  });
  const up = await client.until((m) => m.up, 'the tunnel was up');
  console.log(
    `client: tunnel up on ${up.up} 198.18.0.2/24 2001:db8:18::2/64 (vpnProvider: createConfig, connect, setParameters), server at ${SERVER_ADDRESS}`,
  );

  let serverStats = null;
  let clientStats = null;
  server.on((m) => m.stats && (serverStats = m.stats));
  client.on((m) => m.stats && (clientStats = m.stats));

  const load = start(ns.client, path.join(__dirname, 'demo', 'load.js'), [
    'run',
    '198.18.0.1',
    String(SECONDS),
  ]);
  const latency = (await load.until((m) => m.latency, 'measuring latency')).latency;
  console.log(
    `latency through the tunnel (UDP echo, 20 round trips): median ${latency.medianMs.toFixed(2)} ms` +
      ` (min ${latency.minMs.toFixed(2)}, max ${latency.maxMs.toFixed(2)})`,
  );

  const cpu0 = {
    client: cpuSeconds(client.proc.pid),
    server: cpuSeconds(server.proc.pid),
    sink: cpuSeconds(sink.proc.pid),
    t: Date.now(),
  };
  const pkts0 = { server: serverStats ? wirePackets(serverStats) : 0 };
  let last = { bytes: 0, ms: 0 };
  load.on((m) => {
    if (!m.progress) return;
    const rate = mbit(m.progress.bytes - last.bytes, m.progress.ms - last.ms);
    last = m.progress;
    const line = `bulk TCP through the tunnel: ${(m.progress.bytes / 1e6).toFixed(0)} MB, ${rate.toFixed(0)} Mbit/s`;
    if (tty) process.stdout.write(`\r\x1b[2K${line}`);
    else if (m.progress.ms % 1000 < 250) console.log(line);
  });
  // `vpn-provider disconnect` (or any end of the client's session) during
  // the transfer ends the demo with the reason, not minutes of 0 Mbit/s.
  const clientDown = client
    .until((m) => m.down, 'its session ended')
    .then((m) => {
      throw new Error(
        `the client's session ended (${m.down}${m.error ? `: ${m.error}` : ''}) during the transfer`,
      );
    });
  clientDown.catch(() => {}); // settled by the race below, or moot after it
  const done = (await Promise.race([load.until((m) => m.done, 'the transfer ended'), clientDown]))
    .done;
  if (tty) process.stdout.write('\n');
  const secs = (Date.now() - cpu0.t) / 1000;
  await new Promise((r) => setTimeout(r, 600)); // one more stats line from each side
  const serverPkts = serverStats ? wirePackets(serverStats) - pkts0.server : NaN;
  const cpu = {
    client: (cpuSeconds(client.proc.pid) - cpu0.client) / secs,
    server: (cpuSeconds(server.proc.pid) - cpu0.server) / secs,
  };
  // CPU seconds per MB moved, every process of the path counted (both ends
  // of the tunnel, the sender and the receiver).
  const cpuPerMB =
    (cpu.client * secs + cpu.server * secs + done.cpu + cpuSeconds(sink.proc.pid) - cpu0.sink) /
    (done.bytes / 1e6);

  const frag = {
    client: fragments(ns.client),
    server: fragments(ns.server),
  };
  const fragCount =
    frag.client.made -
    frag0.client.made +
    frag.server.made -
    frag0.server.made +
    frag.client.reassembled -
    frag0.client.reassembled +
    frag.server.reassembled -
    frag0.server.reassembled;
  const gbit = mbit(done.bytes, done.ms) / 1000;
  console.log(
    `\nsummary (${C_RELAY ? 'C relay at both ends' : `UDP side: ${DGRAM ? "Node's dgram" : 'UdpSocket'}`}, TUN offloads ${OFFLOAD ? 'on' : 'off'}, datagrams over ${IPV6 ? 'IPv6' : 'IPv4'})`,
  );
  console.log(`  latency        ${latency.medianMs.toFixed(2)} ms median round trip`);
  console.log(
    `  throughput     ${gbit.toFixed(2)} Gbit/s of TCP payload over ${(done.ms / 1000).toFixed(1)} s`,
  );
  console.log(
    `  packets        ${(serverPkts / secs / 1000).toFixed(0)}k packets/s through the server's tunnel device`,
  );
  console.log(
    `  CPU            client ${(cpu.client * 100).toFixed(0)}% of a core, server ${(cpu.server * 100).toFixed(0)}%` +
      ` (${(cpu.client / gbit).toFixed(2)} and ${(cpu.server / gbit).toFixed(2)} cores per Gbit/s)`,
  );
  console.log(
    `  IP fragments   ${fragCount} (made or reassembled in either namespace; every datagram fits the 1500-byte link)`,
  );
  if (clientStats && clientStats.inPackets !== undefined) {
    console.log(
      `  client counters  in ${clientStats.inPackets} packets, out ${clientStats.outPackets} packets`,
    );
  }
  const result = {
    tunnel: {
      transport: TRANSPORT,
      offload: OFFLOAD,
      ipv6: IPV6,
      rttMs: latency.medianMs,
      mbit: mbit(done.bytes, done.ms),
      pps: serverPkts / secs,
      cpu,
      cpuPerMB,
      fragments: fragCount,
    },
  };
  if (DIRECT) {
    // The same load between the namespaces' own addresses: no tunnel.
    const direct = start(ns.server, path.join(__dirname, 'demo', 'load.js'), ['sink', '192.0.2.2']);
    await direct.until((m) => m.ready, 'it was ready');
    const sinkCpu0 = cpuSeconds(direct.proc.pid);
    const run = start(ns.client, path.join(__dirname, 'demo', 'load.js'), [
      'run',
      '192.0.2.2',
      String(SECONDS),
    ]);
    const lat = (await run.until((m) => m.latency, 'measuring latency')).latency;
    const d = (await run.until((m) => m.done, 'the transfer ended')).done;
    result.direct = {
      rttMs: lat.medianMs,
      mbit: mbit(d.bytes, d.ms),
      cpuPerMB: (d.cpu + cpuSeconds(direct.proc.pid) - sinkCpu0) / (d.bytes / 1e6),
    };
    console.log(
      `  direct         ${lat.medianMs.toFixed(2)} ms, ${result.direct.mbit.toFixed(0)} Mbit/s over the veth pair without the tunnel`,
    );
  }
  if (JSON_OUT) console.log(JSON.stringify(result));
}

main()
  .then(() => process.exit(0))
  .catch((err) => {
    console.error(`demo failed: ${err.message}`);
    process.exit(1);
  });
