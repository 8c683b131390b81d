'use strict';
// examples/client.js with Node's dgram for the UDP side, for `npm run demo
// -- --dgram` (see dgram-server.js).
const dgram = require('node:dgram');
const os = require('node:os');
const path = require('node:path');
const { createPlatform } = require('vpn-provider');

const SERVER_ADDRESS = process.env.SERVER_ADDRESS || '192.0.2.2';
const SERVER_PORT = Number(process.env.SERVER_PORT || 51820);
const MTU = 1420;
const HEADER = Buffer.from([0x56, 0x50, 1, 0]);

const platform = createPlatform({
  stateDir: process.env.STATE_DIR || path.join(os.tmpdir(), 'vpn-provider-demo'),
  dns: false,
  offload: process.env.OFFLOAD !== '0',
});
const vpn = platform.provider('com.example.demo');
const udp = dgram.createSocket({
  type: SERVER_ADDRESS.includes(':') ? 'udp6' : 'udp4',
  recvBufferSize: 4 << 20,
  sendBufferSize: 4 << 20,
});
udp.on('error', (err) => console.error(`udp: ${err.message}`));

vpn.onPlatformMessage.addListener((id, message, error) => {
  if (message === 'connected') {
    (async () => {
      await vpn.setParameters({
        address: '198.18.0.2/24',
        ipv6Address: '2001:db8:18::2/64',
        inclusionList: ['198.18.0.0/24', '2001:db8:18::/64'],
        exclusionList: [`${SERVER_ADDRESS}/${SERVER_ADDRESS.includes(':') ? 128 : 32}`],
        dnsServers: [],
        mtu: String(MTU),
      });
      await vpn.notifyConnectionStateChanged('connected');
      console.log(JSON.stringify({ up: platform.session.interfaceName }));
    })().catch((err) => console.error(err.message));
  } else if (message === 'disconnected' || message === 'error') {
    console.log(JSON.stringify({ down: message, error }));
    udp.close();
  }
});

vpn.onPacketsReceived.addListener((batch) => {
  for (let i = 0; i < batch.count; i++) udp.send([HEADER, Buffer.from(batch.packet(i))]);
});

let inbound = [];
udp.on('message', (m) => {
  if (m.length < 24 || m[0] !== 0x56 || m[1] !== 0x50 || m[2] !== 1) return;
  if (inbound.push(m.subarray(4)) === 1) {
    setImmediate(() => {
      const batch = inbound;
      inbound = [];
      vpn.sendPackets(batch).catch((err) => console.error(err.message));
    });
  }
});

async function main() {
  await new Promise((resolve) => udp.connect(SERVER_PORT, SERVER_ADDRESS, resolve));
  if (!platform.configs().some((c) => c.id === 'demo')) await vpn.createConfig('demo');
  await platform.connect('com.example.demo', 'demo');
  setInterval(
    () => console.log(JSON.stringify({ stats: platform.status().counters })),
    500,
  ).unref();
  process.on('SIGTERM', () => platform.close().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
