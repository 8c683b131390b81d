'use strict';
// examples/server.js with Node's dgram for the UDP side, for `npm run demo
// -- --dgram`: the same tunnel, header and MTU, one system call and one JS
// callback per datagram. The comparison the UDP socket is measured against.
const dgram = require('node:dgram');
const { TunDevice, RouteTable } = require('vpn-provider');

const LISTEN_ADDRESS = process.env.LISTEN_ADDRESS || '::';
const LISTEN_PORT = Number(process.env.LISTEN_PORT || 51820);
const TUNNEL = ['198.18.0.1/24', '2001:db8:18::1/64'];
const MTU = 1420;
const HEADER = Buffer.from([0x56, 0x50, 1, 0]);

async function main() {
  const tun = await TunDevice.open({
    name: 'vpns%d',
    addresses: TUNNEL,
    mtu: MTU,
    ref: true,
    offload: process.env.OFFLOAD !== '0',
  });
  const udp = dgram.createSocket({
    type: 'udp6',
    recvBufferSize: 4 << 20,
    sendBufferSize: 4 << 20,
  });
  const peers = [];
  const routes = new RouteTable();
  udp.on('error', (err) => console.error(`udp: ${err.message}`));

  let inbound = [];
  udp.on('message', (m, from) => {
    if (m.length < 24 || m[0] !== 0x56 || m[1] !== 0x50 || m[2] !== 1) return;
    const p = m.subarray(4);
    const source =
      p[0] >> 4 === 4
        ? `${p[12]}.${p[13]}.${p[14]}.${p[15]}/32`
        : `${p.subarray(8, 24).toString('hex').match(/..../g).join(':')}/128`;
    let index = routes.get(source);
    if (index === undefined) routes.insert(source, (index = peers.length));
    peers[index] = { port: from.port, address: from.address };
    if (inbound.push(p) === 1) {
      setImmediate(() => {
        const batch = inbound;
        inbound = [];
        tun.sendPackets(batch).catch((err) => console.error(err.message));
      });
    }
  });

  const clientOf = new Int32Array(tun.batchSize);
  tun.onPacketsReceived.addListener((batch) => {
    routes.classify(batch.data, batch.meta, batch.count, clientOf);
    for (let i = 0; i < batch.count; i++) {
      const peer = peers[clientOf[i]];
      // The views live only during this call and dgram sends later: copy.
      if (peer) udp.send([HEADER, Buffer.from(batch.packet(i))], peer.port, peer.address);
    }
  });

  udp.bind(LISTEN_PORT, LISTEN_ADDRESS, () => {
    console.log(JSON.stringify({ ready: tun.name, listen: `[::]:${LISTEN_PORT}`, mtu: MTU }));
  });
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
