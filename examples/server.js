'use strict';
// A minimal VPN server: a TUN device, a UDP socket, and a RouteTable from
// each client's tunnel addresses to its UDP endpoint. Each IP packet travels
// as one wire-size UDP datagram behind a 4-byte header; batches go both
// ways in one native call each, with no copy of a packet in JS.
//
// A real VPN authenticates and encrypts where the comments say so: its
// header (a key id and a counter for the nonce) goes in the room the device
// keeps before each packet, its authentication tag in the room after it.
//
//   node examples/server.js          (root; `npm run demo` runs it for you)
const { TunDevice, UdpSocket, RouteTable, PeerTable } = require('vpn-provider');

const LISTEN_ADDRESS = process.env.LISTEN_ADDRESS || '::'; // both IPv4 and IPv6
const LISTEN_PORT = Number(process.env.LISTEN_PORT || 51820);
const TUNNEL = ['198.18.0.1/24', '2001:db8:18::1/64']; // the server's end of the tunnel
// The tunnel's MTU: 1420 + the 4-byte header + 48 bytes of UDP and IPv6
// fit a 1500-byte link, so no datagram is ever fragmented.
const MTU = 1420;
const HEADER = Uint8Array.of(0x56, 0x50, 1, 0); // "VP", version 1, type 0: a packet
const MAX_CLIENTS = 1024;

async function main() {
  const tun = await TunDevice.open({
    name: 'vpns%d',
    addresses: TUNNEL,
    mtu: MTU,
    ref: true,
    headroom: HEADER.length, // room for our header before each packet
    offload: process.env.OFFLOAD !== '0', // TSO/USO: fewer, larger reads and writes
    txQueueLen: 1000, // bursts wait here, not drop, while JS is busy
  });
  const udp = await UdpSocket.open({ address: LISTEN_ADDRESS, port: LISTEN_PORT, ref: true });
  const peers = new PeerTable(MAX_CLIENTS); // client index -> its UDP endpoint
  const routes = new RouteTable(); // client tunnel address -> client index
  let clients = 0;
  let strangers = 0;

  udp.onPeerError.addListener(({ error, peer }) => console.error(`${peer}: ${error.code}`));
  udp.onError.addListener((err) => {
    console.error(`udp: ${err.message}`);
    process.exit(1);
  });

  // From clients: check each datagram's header (a real VPN authenticates
  // and decrypts here), learn where each client is, then write the packets
  // into the TUN device in one native call, the header cut off.
  udp.onDatagrams.addListener((batch) => {
    const d = batch.data;
    let sender = -1;
    for (let i = 0; i < batch.count; i++) {
      const at = batch.offset(i);
      if (batch.length(i) < 24 || d[at] !== 0x56 || d[at + 1] !== 0x50 || d[at + 2] !== 1) {
        if (strangers++ === 0)
          console.error(`${batch.sender(i)}: a datagram that is not this demo's protocol, dropped`);
        batch.drop(i);
        continue;
      }
      // A client's address can change (roaming): learn it from its first
      // datagram of each message (GRO hands over runs from one sender).
      if (batch.meta[3 * i + 2] !== sender) {
        sender = batch.meta[3 * i + 2];
        learn(batch, i);
      }
    }
    tun.sendFrom(batch, { trimHead: HEADER.length }).catch((err) => console.error(err.message));
  });

  function learn(batch, i) {
    const p = batch.offset(i) + HEADER.length;
    const d = batch.data;
    const source =
      d[p] >> 4 === 4
        ? `${d[p + 12]}.${d[p + 13]}.${d[p + 14]}.${d[p + 15]}/32`
        : `${Buffer.from(d.subarray(p + 8, p + 24))
            .toString('hex')
            .match(/..../g)
            .join(':')}/128`;
    let index = routes.get(source);
    if (index === undefined) {
      if (clients === MAX_CLIENTS) return;
      index = clients++;
      routes.insert(source, index);
    }
    const now = batch.sender(i);
    const was = peers.get(index);
    if (!was || !was.equals(now)) peers.set(index, now);
  }

  // To clients: one native call finds each packet's client, the header goes
  // in front of each (a real VPN encrypts here), one native call sends them
  // all, runs to one client as one UDP_SEGMENT send.
  const clientOf = new Int32Array(tun.batchSize);
  tun.onPacketsReceived.addListener((batch) => {
    routes.classify(batch.data, batch.meta, batch.count, clientOf);
    for (let i = 0; i < batch.count; i++) batch.data.set(HEADER, batch.offset(i) - HEADER.length);
    udp
      .sendFrom(batch, { to: { table: peers, index: clientOf }, headroom: HEADER.length })
      .catch((err) => console.error(err.message));
  });

  console.log(JSON.stringify({ ready: tun.name, listen: udp.local.toString(), mtu: MTU }));
  // The demo reads these to show packets/s.
  setInterval(
    () => console.log(JSON.stringify({ stats: tun.counters(), udp: udp.counters() })),
    500,
  ).unref();
  process.on('SIGTERM', () => {
    tun.close();
    udp.close();
  });
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
