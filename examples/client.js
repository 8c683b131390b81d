'use strict';
// A minimal VPN client, written against the vpnProvider surface only, as a
// Chrome extension would be: it connects a configuration, gives the platform
// its address and routes, and carries packets to the server over UDP.
// (A real VPN authenticates and encrypts here.)
//
//   node examples/client.js          (root; `npm run demo` runs it for you)
const dgram = require('node:dgram');
const os = require('node:os');
const path = require('node:path');
const { createPlatform } = require('vpn-provider');

const SERVER_ADDRESS = process.env.SERVER_ADDRESS || '192.0.2.2';
const SERVER_PORT = 51820;
// With offloads (the default) the tunnel carries super-packets whole: one
// datagram holds a virtio-net header and up to 65000 bytes of TCP or UDP
// segments, so one send moves ~45 packets. OFFLOAD=0: one packet each.
const SUPER = process.env.OFFLOAD !== '0';

const platform = createPlatform({
  stateDir: process.env.STATE_DIR || path.join(os.tmpdir(), 'vpn-provider-demo'),
  dns: false, // the demo leaves the system's DNS alone
  offload: SUPER, // TSO/USO on the tunnel device
  superPackets: SUPER, // batches hand out super-packets with their headers
  gsoMaxSize: 65000, // a super-packet and its header fit in one datagram
});
const vpn = platform.provider('com.example.demo');
const udp = dgram.createSocket('udp4');

vpn.onPlatformMessage.addListener(async (id, message, error) => {
  if (message === 'connected') {
    // The platform made the tunnel device: now say how to use it.
    await vpn.setParameters({
      address: '198.18.0.2/24',
      inclusionList: ['198.18.0.0/24'], // the tunnel network goes through the tunnel
      exclusionList: [`${SERVER_ADDRESS}/32`], // the server itself never does
      dnsServers: [],
      mtu: '1400', // 1400 + 28 bytes of UDP/IP fits the 1500 of the link
    });
    await vpn.notifyConnectionStateChanged('connected');
    console.log(JSON.stringify({ up: platform.session.interfaceName }));
  } else if (message === 'disconnected' || message === 'error') {
    console.log(JSON.stringify({ down: message, error }));
    udp.close();
  }
});

// Into the tunnel: each packet to the server, one datagram each (a copy:
// the views live only during this call).
vpn.onPacketsReceived.addListener((batch) => {
  for (let i = 0; i < batch.count; i++) {
    udp.send(Buffer.from(SUPER ? batch.withHeader(i) : batch.packet(i)));
  }
});

// Out of the tunnel: the datagrams of one turn of the loop in one native call.
let inbound = [];
udp.on('message', (packet) => {
  if (inbound.push(packet) === 1) {
    setImmediate(() => {
      const batch = inbound;
      inbound = [];
      vpn
        .sendPackets(batch, { withHeader: SUPER })
        .catch((err) => console.error('send:', err.message));
    });
  }
});

async function main() {
  await new Promise((resolve) => udp.connect(SERVER_PORT, SERVER_ADDRESS, resolve));
  if (!platform.configs().some((c) => c.id === 'demo')) await vpn.createConfig('demo');
  await platform.connect('com.example.demo', 'demo'); // "the user clicks connect"
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
