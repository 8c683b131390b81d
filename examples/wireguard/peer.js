'use strict';
// A WireGuard-compatible peer on vpn-provider: an example, not an audited
// product (see README.md next to this file).
//
//   node examples/wireguard/peer.js --config wg0.conf            a client, on
//        the vpnProvider surface: the platform sets addresses, routes, DNS
//        and the kill switch from the file
//   node examples/wireguard/peer.js --config wg0.conf --server   a server: a
//        TUN device of its own (--name wg%d) and many peers
//
// Prints JSON lines: {"ready": ...} once up, {"status": [...]} every second.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { createPlatform, TunDevice, UdpSocket } = require('vpn-provider');
const { parse, resolve } = require('./config');
const { WireGuardDevice, HEADER, TAILROOM } = require('./device');
const noise = require('./noise');

const { values: opts } = parseArgs({
  options: {
    config: { type: 'string' },
    server: { type: 'boolean', default: false },
    name: { type: 'string', default: 'wg%d' },
    quiet: { type: 'boolean', default: false },
  },
});
if (!opts.config) {
  console.error('usage: peer.js --config FILE [--server] [--name wg%d]');
  process.exit(2);
}
const log = opts.quiet ? () => {} : (m) => console.error(`wireguard: ${m}`);

async function main() {
  const cfg = await resolve(parse(fs.readFileSync(opts.config, 'utf8')));
  const identity = new noise.Identity(cfg.interface.privateKey);
  const udp = await UdpSocket.open({ address: '::', port: cfg.interface.listenPort, ref: true });
  udp.onPeerError.addListener(({ error, peer, mtu }) =>
    log(`${peer}: ${error.code}${mtu ? ` (path MTU ${mtu})` : ''}`),
  );
  const peers = cfg.peers;
  let device;
  const start = (tun) => {
    device = new WireGuardDevice({ identity, peers, udp, tun, log });
    udp.onDatagrams.addListener((b) => device.onDatagrams(b));
    // Peers with an endpoint say hello first (wg-quick does the same on the
    // first packet; this one also makes a persistent keepalive start).
    for (const p of device.peers) if (device.endpoints.get(p.index)) device.initiate(p, Date.now());
  };
  const status = setInterval(
    () => device && console.log(JSON.stringify({ status: device.status() })),
    1000,
  );
  status.unref();
  const ready = (name) =>
    console.log(
      JSON.stringify({
        ready: name,
        listen: udp.local.port,
        publicKey: identity.pub.toString('base64'),
      }),
    );

  if (opts.server) {
    const tun = await TunDevice.open({
      name: opts.name,
      addresses: cfg.interface.addresses,
      mtu: cfg.interface.mtu,
      headroom: HEADER,
      tailroom: TAILROOM,
      offload: process.env.OFFLOAD !== '0',
      txQueueLen: 1000,
      ref: true,
    });
    start(tun);
    tun.onPacketsReceived.addListener((b) => device.onTunPackets(b));
    ready(tun.name);
    process.on('SIGTERM', () => {
      device.close();
      tun.close();
      udp.close();
    });
    return;
  }

  // The client: the platform plays ChromeOS's part.
  const v4 = cfg.interface.addresses.find((a) => !a.includes(':'));
  const v6 = cfg.interface.addresses.find((a) => a.includes(':'));
  const platform = createPlatform({
    stateDir: process.env.STATE_DIR || path.join(os.tmpdir(), 'vpn-provider-wireguard'),
    dns: cfg.interface.dns.length > 0 ? undefined : false,
    headroom: HEADER,
    tailroom: TAILROOM,
    offload: process.env.OFFLOAD !== '0',
  });
  const vpn = platform.provider('com.example.wireguard');
  vpn.onPlatformMessage.addListener((id, message, error) => {
    if (message === 'connected') {
      configure().catch((err) => {
        log(`setParameters: ${err.message}`);
        vpn.notifyConnectionStateChanged('failure').catch(() => {});
      });
    } else if (message === 'disconnected' || message === 'error') {
      console.log(JSON.stringify({ down: message, error }));
      device?.close();
      udp.close();
    }
  });
  async function configure() {
    const exclude = peers
      .filter((p) => p.endpoint)
      .map((p) => `${p.endpoint.address}/${p.endpoint.address.includes(':') ? 128 : 32}`);
    await vpn.setParameters({
      address: v4 || '0.0.0.0/32',
      ...(v6 ? { ipv6Address: v6 } : {}),
      inclusionList: peers.flatMap((p) => p.allowedIPs),
      exclusionList: exclude,
      dnsServers: cfg.interface.dns,
      mtu: String(cfg.interface.mtu),
    });
    // Our datagrams bypass the tunnel whatever the routes say (SO_MARK).
    vpn.protect(udp);
    await vpn.notifyConnectionStateChanged('connected');
    start({ sendFrom: (b) => vpn.sendFrom(b) });
    vpn.onPacketsReceived.addListener((b) => device.onTunPackets(b));
    ready(platform.session.interfaceName);
  }
  const id =
    path
      .basename(opts.config)
      .replace(/\.conf$/, '')
      .replace(/[^\w.-]/g, '_') || 'wg';
  if (!platform.configs().some((c) => c.id === id)) await vpn.createConfig(id);
  await platform.connect('com.example.wireguard', id);
  process.on('SIGTERM', () => platform.close().then(() => process.exit(0)));
}

main().catch((err) => {
  console.error(`wireguard: ${err.message}`);
  process.exit(1);
});
