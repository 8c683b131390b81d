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
  const last = { sender: new Uint8Array(24), client: -1 };
  function learn(batch, p, m) {
    const senders = batch.peers; // 24-byte records, one per message
    if (last.client >= 0 && sameRecord(senders, m * 24, last.sender, 0)) return;
    const d = batch.data;
    let index;
    if (d[p] >> 4 === 4) {
      index = routes.lookup(
        ((d[p + 12] << 24) | (d[p + 13] << 16) | (d[p + 14] << 8) | d[p + 15]) >>> 0,
      );
    } else {
      index = routes.lookup(ipv6Text(d, p + 8));
    }
    if (index === undefined) {
      if (clients === MAX_CLIENTS) return;
      index = clients++;
      const src =
        d[p] >> 4 === 4
          ? `${d[p + 12]}.${d[p + 13]}.${d[p + 14]}.${d[p + 15]}/32`
          : `${ipv6Text(d, p + 8)}/128`;
      routes.insert(src, index);
    }
    if (!sameRecord(peers.records, index * 24, senders, m * 24)) {
      peers.records.set(senders.subarray(m * 24, m * 24 + 24), index * 24);
    }
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

function sameRecord(a, i, b, j) {
  for (let k = 0; k < 24; k++) if (a[i + k] !== b[j + k]) return false;
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
