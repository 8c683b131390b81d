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
    const { data, meta } = batch; // (offset, length, sender) per datagram
    let message = -1;
    for (let i = 0; i < batch.count; i++) {
      const at = meta[3 * i];
      if (
        meta[3 * i + 1] < 24 ||
        data[at] !== 0x56 ||
        data[at + 1] !== 0x50 ||
        data[at + 2] !== 1
      ) {
        if (strangers++ === 0)
          console.error(`${batch.sender(i)}: a datagram that is not this demo's protocol, dropped`);
        batch.drop(i);
        continue;
      }
      // GRO hands over runs from one sender as one message: once each.
      if (meta[3 * i + 2] !== message) {
        message = meta[3 * i + 2];
        learn(batch, at + HEADER.length, message);
      }
    }
    tun.sendFrom(batch, { trimHead: HEADER.length }).catch((err) => console.error(err.message));
  });

  // Which client sent a packet, from its inner source address, and where
  // it is now (a client's address can change: roaming). A real VPN knows
  // the client from its authenticated header instead: trusting the inner
  // source lets anyone who can send a datagram claim a client's address.
  const last = { sender: new Uint8Array(24), v: 0, source: new Uint8Array(16), client: -1 };
  function learn(batch, p, m) {
    const d = batch.data;
    const senders = batch.peers; // 24-byte records, one per message
    const v = d[p] >> 4;
    const at = v === 4 ? p + 12 : p + 8; // the source address
    const n = v === 4 ? 4 : 16;
    // Mostly the same client as the datagram before: nothing to learn.
    if (
      last.client >= 0 &&
      v === last.v &&
      same(d, at, last.source, 0, n) &&
      same(senders, m * 24, last.sender, 0, 24)
    )
      return;
    const source =
      v === 4
        ? ((d[at] << 24) | (d[at + 1] << 16) | (d[at + 2] << 8) | d[at + 3]) >>> 0
        : ipv6Text(d, at);
    let index = routes.lookup(source);
    if (index === undefined) {
      if (clients === MAX_CLIENTS) return;
      index = clients++;
      routes.insert(
        v === 4 ? `${d[at]}.${d[at + 1]}.${d[at + 2]}.${d[at + 3]}/32` : `${source}/128`,
        index,
      );
    }
    if (!same(peers.records, index * 24, senders, m * 24, 24)) {
      peers.records.set(senders.subarray(m * 24, m * 24 + 24), index * 24);
    }
    last.v = v;
    last.source.set(d.subarray(at, at + n));
    last.sender.set(senders.subarray(m * 24, m * 24 + 24));
    last.client = index;
  }

  // To clients: one native call finds each packet's client, the header goes
  // in front of each (a real VPN encrypts here), one native call sends them
  // all, runs to one client as one UDP_SEGMENT send.
  const clientOf = new Int32Array(tun.batchSize);
  tun.onPacketsReceived.addListener((batch) => {
    routes.classify(batch.data, batch.meta, batch.count, clientOf);
    const { data, meta } = batch; // (offset, length) per packet
    for (let i = 0; i < batch.count; i++) {
      const at = meta[2 * i] - HEADER.length;
      data[at] = HEADER[0];
      data[at + 1] = HEADER[1];
      data[at + 2] = HEADER[2];
      data[at + 3] = HEADER[3];
    }
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

function same(a, i, b, j, n) {
  for (let k = 0; k < n; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

function ipv6Text(d, at) {
  const groups = [];
  for (let k = 0; k < 16; k += 2) groups.push(((d[at + k] << 8) | d[at + k + 1]).toString(16));
  return groups.join(':');
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
