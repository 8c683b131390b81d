'use strict';
// Reads a wg-quick style file: [Interface] PrivateKey, Address, ListenPort,
// DNS, MTU; [Peer] PublicKey, PresharedKey, AllowedIPs, Endpoint,
// PersistentKeepalive. Keys are case-insensitive, lists comma-separated,
// `#` starts a comment. wg-quick's other keys (Table, PreUp, PostUp...) are
// refused rather than ignored: this example runs no commands.
const dns = require('node:dns/promises');
const net = require('node:net');

function key(text, what) {
  const b = Buffer.from(text, 'base64');
  if (b.length !== 32 || b.toString('base64') !== text)
    throw new Error(`${what} is not a base64 32-byte key`);
  return b;
}

const list = (v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function endpoint(text) {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) || /^([^:]+):(\d+)$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new Error(`Endpoint ${text} is not host:port`);
  return { host: m[1], port: Number(m[2]) };
}

function parse(text) {
  const cfg = { interface: { addresses: [], dns: [], listenPort: 0, mtu: 1420 }, peers: [] };
  let section = null;
  let seenInterface = false;
  text.split(/\r?\n/).forEach((raw, n) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const where = `line ${n + 1}`;
    const sec = /^\[(\w+)\]$/.exec(line);
    if (sec) {
      const name = sec[1].toLowerCase();
      if (name === 'interface') {
        if (seenInterface) throw new Error(`${where}: a second [Interface]`);
        seenInterface = true;
        section = cfg.interface;
      } else if (name === 'peer') {
        section = { allowedIPs: [], endpoint: null, presharedKey: null, persistentKeepalive: 0 };
        cfg.peers.push(section);
      } else throw new Error(`${where}: unknown section [${sec[1]}]`);
      return;
    }
    const kv = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`${where}: expected "Key = value" in a section`);
    const k = kv[1].toLowerCase();
    const v = kv[2].trim();
    if (section === cfg.interface) {
      if (k === 'privatekey') section.privateKey = key(v, 'PrivateKey');
      else if (k === 'address') section.addresses.push(...list(v));
      else if (k === 'listenport') section.listenPort = int(v, 0, 65535, where);
      else if (k === 'dns') section.dns.push(...list(v));
      else if (k === 'mtu') section.mtu = int(v, 576, 9000, where);
      else throw new Error(`${where}: ${kv[1]} is not supported in [Interface]`);
    } else {
      if (k === 'publickey') section.publicKey = key(v, 'PublicKey');
      else if (k === 'presharedkey') section.presharedKey = key(v, 'PresharedKey');
      else if (k === 'allowedips') section.allowedIPs.push(...list(v));
      else if (k === 'endpoint') section.endpoint = endpoint(v);
      else if (k === 'persistentkeepalive')
        section.persistentKeepalive = v === 'off' ? 0 : int(v, 0, 65535, where);
      else throw new Error(`${where}: ${kv[1]} is not supported in [Peer]`);
    }
  });
  if (!cfg.interface.privateKey) throw new Error('[Interface] has no PrivateKey');
  cfg.peers.forEach((p, i) => {
    if (!p.publicKey) throw new Error(`[Peer] ${i + 1} has no PublicKey`);
  });
  return cfg;
}

function int(v, lo, hi, where) {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < lo || n > hi)
    throw new Error(`${where}: ${v} is not an integer from ${lo} to ${hi}`);
  return n;
}

/** Endpoints as addresses: a hostname is looked up once, at start. */
async function resolve(cfg) {
  for (const p of cfg.peers) {
    if (!p.endpoint) continue;
    const { host, port } = p.endpoint;
    const address = net.isIP(host) ? host : (await dns.lookup(host)).address;
    p.endpoint = { address, port };
  }
  return cfg;
}

module.exports = { parse, resolve };
