'use strict';
// The process the soak measures (scripts/soak.js starts it inside the
// soak's network namespace): a provider on a platform, as an application
// would use them. While connected it reflects every packet the system sends
// into the tunnel back out of it (source and destination swapped, which
// keeps the checksums right), so each packet crosses the tunnel both ways.
// Commands on stdin, one per line; answers are JSON lines on stdout:
//   stats        { rx, tx, listeners }   packets in, packets out, listeners held
//   cycles N     N times connect, setParameters, disconnect; { cycles }
//   connect      connect and configure again; { connected }
const readline = require('node:readline');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { createPlatform } = require(path.join(root, 'dist'));

const PROVIDER = 'com.example.soak';
const PARAMS = {
  address: '10.90.0.2/24',
  exclusionList: ['198.18.200.0/24'],
  // A full tunnel: also the IPv6 blackhole, so every cycle adds and removes
  // routes and rules of both families.
  inclusionList: ['198.18.0.0/15', '0.0.0.0/0'],
  dnsServers: [],
};

const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-soak-'));
const platform = createPlatform({ stateDir: dir, log: (l) => say({ log: l }) });
const vpn = platform.provider(PROVIDER);

// The reflector: one sendPackets per batch; the copies are the packets'
// own memory until the send has settled (the batch's views are not).
function reflect(batch) {
  const out = new Array(batch.count);
  let n = 0;
  for (let i = 0; i < batch.count; i++) {
    const p = batch.packet(i);
    if (p.length < 28 || p[0] !== 0x45 || p[9] !== 17) continue; // IPv4 UDP, no options
    const q = p.slice();
    q.copyWithin(12, 16, 20); // destination -> source
    q.set(p.subarray(12, 16), 16); // source -> destination
    q.copyWithin(20, 22, 24); // ports
    q.set(p.subarray(20, 22), 22);
    out[n++] = q;
  }
  out.length = n;
  if (n) vpn.sendPackets(out).catch((err) => say({ error: err.message }));
}

async function connect() {
  await platform.connect(PROVIDER, 'soak');
  await vpn.setParameters(PARAMS);
  await vpn.notifyConnectionStateChanged('connected');
}

function listeners() {
  const events = [
    'onPlatformMessage',
    'onPacketReceived',
    'onPacketsReceived',
    'onConfigRemoved',
    'onConfigCreated',
    'onUIEvent',
  ];
  return {
    process: ['SIGTERM', 'SIGINT', 'beforeExit', 'exit'].reduce(
      (n, e) => n + process.listenerCount(e),
      0,
    ),
    provider: events.filter((e) => vpn[e].hasListeners()).length,
  };
}

async function main() {
  await vpn.createConfig('soak');
  vpn.onPacketsReceived.addListener(reflect);
  const before = listeners(); // what a disconnected platform holds
  await connect();
  say({ ready: platform.session.interfaceName, pid: process.pid, listeners: before });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const [cmd, arg] = line.trim().split(' ');
    if (cmd === 'stats') {
      const c = platform.status().counters ?? { inPackets: 0, outPackets: 0 };
      say({ rx: c.inPackets, tx: c.outPackets, listeners: listeners() });
    } else if (cmd === 'cycles') {
      await platform.disconnect();
      for (let i = 0; i < Number(arg); i++) {
        await connect();
        await platform.disconnect();
      }
      say({ cycles: Number(arg), listeners: listeners() });
    } else if (cmd === 'connect') {
      await connect();
      say({ connected: platform.session.interfaceName });
    }
  }
  await platform.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  say({ error: String(err && err.stack) });
  process.exit(2);
});
