'use strict';
// A minimal VPN client, written against the vpnProvider surface, as a
// Chrome extension would be: it connects a configuration, gives the
// platform its addresses and routes, and carries packets to the server
// (examples/server.js) over UDP: each one a wire-size datagram behind a
// 4-byte header, batches both ways in one native call, no copy in JS.
//
// A real VPN authenticates and encrypts where the comments say so: its
// header goes in the room the device keeps before each packet, its
// authentication tag in the room after it.
//
//   node examples/client.js          (root; `npm run demo` runs it for you)
const os = require('node:os');
const path = require('node:path');
const { createPlatform, UdpSocket } = require('vpn-provider');

const SERVER_ADDRESS = process.env.SERVER_ADDRESS || '192.0.2.2';
const SERVER_PORT = Number(process.env.SERVER_PORT || 51820);
const MTU = 1420; // + 4 + 48 bytes of header, UDP and IPv6: under 1500
const HEADER = Uint8Array.of(0x56, 0x50, 1, 0); // "VP", version 1, type 0: a packet

const platform = createPlatform({
  stateDir: process.env.STATE_DIR || path.join(os.tmpdir(), 'vpn-provider-demo'),
  dns: false, // the demo leaves the system's DNS alone
  headroom: HEADER.length, // room for our header before each packet
  offload: process.env.OFFLOAD !== '0', // TSO/USO: fewer, larger reads and writes
});
const vpn = platform.provider('com.example.demo');
let udp = null;

vpn.onPlatformMessage.addListener((id, message, error) => {
  if (message === 'connected') {
    // The platform made the tunnel device: now say how to use it.
    configure().catch((err) => {
      console.error(`setParameters: ${err.message}`);
      vpn.notifyConnectionStateChanged('failure').catch(() => {});
    });
  } else if (message === 'disconnected' || message === 'error') {
    console.log(JSON.stringify({ down: message, error }));
    udp?.close();
  }
});

async function configure() {
  await vpn.setParameters({
    address: '198.18.0.2/24',
    ipv6Address: '2001:db8:18::2/64',
    inclusionList: ['198.18.0.0/24', '2001:db8:18::/64'], // through the tunnel
    exclusionList: [`${SERVER_ADDRESS}/${SERVER_ADDRESS.includes(':') ? 128 : 32}`], // never
    dnsServers: [],
    mtu: String(MTU),
  });
  await vpn.notifyConnectionStateChanged('connected');
  console.log(JSON.stringify({ up: platform.session.interfaceName }));
}

// Into the tunnel: the header in front of each packet (a real VPN encrypts
// here), then the whole batch in one native call; runs of one size go as
// one UDP_SEGMENT send.
vpn.onPacketsReceived.addListener((batch) => {
  const { data, meta } = batch; // (offset, length) per packet
  for (let i = 0; i < batch.count; i++) {
    const at = meta[2 * i] - HEADER.length;
    data[at] = HEADER[0];
    data[at + 1] = HEADER[1];
    data[at + 2] = HEADER[2];
    data[at + 3] = HEADER[3];
  }
  udp.sendFrom(batch, { headroom: HEADER.length }).catch((err) => console.error(err.message));
});

function onDatagrams(batch) {
  // Out of the tunnel: check each header (a real VPN authenticates and
  // decrypts here), then write the packets in one native call.
  const { data: d, meta } = batch; // (offset, length, sender) per datagram
  for (let i = 0; i < batch.count; i++) {
    const at = meta[3 * i];
    if (meta[3 * i + 1] < 24 || d[at] !== 0x56 || d[at + 1] !== 0x50 || d[at + 2] !== 1) {
      console.error(`${batch.sender(i)}: a datagram that is not this demo's protocol, dropped`);
      batch.drop(i);
    }
  }
  vpn.sendFrom(batch, { trimHead: HEADER.length }).catch((err) => console.error(err.message));
}

async function main() {
  // ref: the socket keeps the process alive (the platform ends the session
  // when nothing does).
  udp = await UdpSocket.open({
    connect: { address: SERVER_ADDRESS, port: SERVER_PORT },
    ref: true,
  });
  udp.onDatagrams.addListener(onDatagrams);
  // The server restarting or unreachable: say so, and keep going.
  udp.onPeerError.addListener(({ error }) => console.error(`server: ${error.code}`));
  if (!platform.configs().some((c) => c.id === 'demo')) await vpn.createConfig('demo');
  await platform.connect('com.example.demo', 'demo'); // "the user clicks connect"
  setInterval(
    () => console.log(JSON.stringify({ stats: platform.status().counters, udp: udp.counters() })),
    500,
  ).unref();
  process.on('SIGTERM', () => platform.close().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
