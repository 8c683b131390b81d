'use strict';
// A minimal VPN server: a TUN device of its own, and a RouteTable from each
// client's tunnel address to its UDP endpoint. Each IP packet travels as one
// UDP datagram. (A real VPN encrypts it here, in both directions.)
//
//   node examples/server.js          (root; `npm run demo` runs it for you)
const dgram = require('node:dgram');
const { TunDevice, RouteTable } = require('vpn-provider');

const LISTEN_ADDRESS = process.env.LISTEN_ADDRESS || '192.0.2.2';
const LISTEN_PORT = 51820;
const TUNNEL = '198.18.0.1/24'; // the server's end of the tunnel network
// With offloads (the default) a datagram carries a super-packet with its
// 10-byte virtio-net header in front (see client.js). OFFLOAD=0: one packet.
const SUPER = process.env.OFFLOAD !== '0';
const HEADER = SUPER ? 10 : 0;

async function main() {
  const tun = await TunDevice.open({
    name: 'vpns%d',
    addresses: [TUNNEL],
    mtu: 1400,
    ref: true,
    offload: SUPER,
    superPackets: SUPER,
    gsoMaxSize: 65000,
  });
  const udp = dgram.createSocket('udp4');
  const peers = []; // peer index -> { address, port }
  const routes = new RouteTable(); // client tunnel address -> peer index

  // From a client: learn which tunnel address it uses, give the packet to the kernel.
  let inbound = [];
  udp.on('message', (packet, from) => {
    const ip = HEADER; // where the IP header starts
    if (packet.length < ip + 20 || packet[ip] >> 4 !== 4) return; // IPv4 only, in this demo
    const source = `${packet[ip + 12]}.${packet[ip + 13]}.${packet[ip + 14]}.${packet[ip + 15]}/32`;
    if (!routes.has(source))
      routes.insert(source, peers.push({ address: from.address, port: from.port }) - 1);
    // Many datagrams arrive per turn of the loop: write them in one native call.
    if (inbound.push(packet) === 1) {
      setImmediate(() => {
        const batch = inbound;
        inbound = [];
        tun
          .sendPackets(batch, { withHeader: SUPER })
          .catch((err) => console.error('send:', err.message));
      });
    }
  });

  // To clients: one native call finds the peer of every packet in the batch.
  const peerOf = new Int32Array(tun.batchSize);
  tun.onPacketsReceived.addListener((batch) => {
    routes.classify(batch.data, batch.meta, batch.count, peerOf);
    for (let i = 0; i < batch.count; i++) {
      const peer = peers[peerOf[i]];
      // The views live only during this call and dgram may send later: copy.
      const packet = SUPER ? batch.withHeader(i) : batch.packet(i);
      if (peer) udp.send(Buffer.from(packet), peer.port, peer.address);
    }
  });

  udp.bind(LISTEN_PORT, LISTEN_ADDRESS, () => {
    console.log(JSON.stringify({ ready: tun.name, listen: `${LISTEN_ADDRESS}:${LISTEN_PORT}` }));
  });
  // The demo reads these to show packets/s.
  setInterval(() => console.log(JSON.stringify({ stats: tun.counters() })), 500).unref();
  process.on('SIGTERM', () => {
    tun.close();
    udp.close();
  });
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
