'use strict';
// The WireGuard device: peers, keypairs, timers, and the packet path in
// batches, built only from the package's public parts:
//
// TUN -> wire: a PacketBatch (super-packets split in native code, room kept
//   before and after each packet) -> RouteTable.classify picks each packet's
//   peer by destination (cryptokey routing) -> the 16-byte data header is
//   written in the headroom -> AeadKey.seal seals the whole batch in place
//   (counter into the header, padding and tag into the tailroom) ->
//   UdpSocket.sendFrom sends it in one call, runs to one peer as one GSO send.
// wire -> TUN: a DatagramBatch (GRO runs as one message) -> each data
//   message's receiver index names its keypair -> AeadKey.open opens that
//   keypair's datagrams in one call, with the replay window -> the inner
//   source must be in the sending peer's allowed IPs (RouteTable) -> the
//   authentic packets go to the TUN device in one sendFrom, coalesced.
// Handshake messages are few; they are handled one by one (noise.js).
const nodeCrypto = require('node:crypto');
const { AeadKey, ReplayWindow, RouteTable, PeerTable, UdpPeer, Verdict } = require('vpn-provider');
const noise = require('./noise');

// The whitepaper's timers (section 6), in ms. WG_REKEY_AFTER_TIME (seconds)
// shortens rekeying for tests.
const REKEY_AFTER_TIME = Number(process.env.WG_REKEY_AFTER_TIME || 120) * 1000;
const REJECT_AFTER_TIME = Math.max(180000, REKEY_AFTER_TIME + 60000);
const REKEY_ATTEMPT_TIME = 90000;
const REKEY_TIMEOUT = 5000;
const KEEPALIVE_TIMEOUT = 10000;
const REKEY_AFTER_MESSAGES = 2n ** 60n;
const REJECT_AFTER_MESSAGES = 2n ** 64n - 2n ** 13n - 1n;
const MAX_STAGED = 128; // packets kept per peer while a handshake runs
const HEADER = 16; // type, receiver index, counter
const TAILROOM = 32; // up to 15 bytes of padding and the 16-byte tag
// Handshake messages per second past which we answer with cookies first.
const LOAD_THRESHOLD = Number(process.env.WG_LOAD_THRESHOLD || 200);

class Keypair {
  constructor(t, initiator, localIndex, remoteIndex) {
    this.send = new AeadKey('chacha20-poly1305', t.send, { limit: REJECT_AFTER_MESSAGES });
    this.recv = new AeadKey('chacha20-poly1305', t.recv, { limit: REJECT_AFTER_MESSAGES });
    t.send.fill(0);
    t.recv.fill(0);
    this.replay = new ReplayWindow();
    this.initiator = initiator;
    this.localIndex = localIndex;
    this.remoteIndex = remoteIndex;
    this.created = Date.now();
  }
  close() {
    this.send.close();
    this.recv.close();
  }
}

class Peer {
  constructor(device, index, cfg) {
    this.index = index;
    this.name = cfg.publicKey.toString('base64');
    this.keys = new noise.PeerKeys(device.identity, cfg.publicKey, cfg.presharedKey);
    this.allowedIPs = cfg.allowedIPs;
    this.keepalive = (cfg.persistentKeepalive || 0) * 1000;
    this.current = null;
    this.previous = null;
    this.next = null; // responder's keypair, until the initiator's first data
    this.handshake = null; // ours in flight: { state, localIndex, sentAt, startedAt }
    this.staged = [];
    this.lastSent = 0;
    this.lastRecv = 0;
    this.lastDataSent = 0;
    this.lastDataRecv = 0;
    this.lastHandshake = 0; // when the last handshake completed
    this.awaitingSince = 0; // data sent since then, nothing authentic heard back
    this.wantHandshakeSince = 0; // REKEY_ATTEMPT_TIME runs from here
    this.stats = {
      handshakes: 0,
      cookies: 0,
      rxBytes: 0,
      txBytes: 0,
      forged: 0,
      replayed: 0,
      invalid: 0,
    };
  }
}

class WireGuardDevice {
  /**
   * identity: noise.Identity; peers: [{ publicKey, presharedKey, allowedIPs,
   * endpoint: { address, port } | null, persistentKeepalive }]; udp: an open
   * UdpSocket; tun: { sendFrom(batch) } (a TunDevice, or a vpnProvider).
   */
  constructor({ identity, peers, udp, tun, batchSize = 256, log = () => {} }) {
    this.identity = identity;
    this.udp = udp;
    this.tun = tun;
    this.log = log;
    this.peers = peers.map((p, i) => new Peer(this, i, p));
    this.byKey = new Map(this.peers.map((p) => [p.name, p]));
    this.allowed = new RouteTable(); // allowed IP -> peer index
    this.endpoints = new PeerTable(Math.max(1, this.peers.length)); // peer index -> endpoint
    this.peers.forEach((p, i) => {
      for (const cidr of p.allowedIPs) this.allowed.insert(cidr, i);
      const e = peers[i].endpoint;
      if (e) this.endpoints.set(i, new UdpPeer(e.address, e.port));
    });
    this.indices = new Map(); // our index -> { peer, keypair } or { peer, handshake }
    this.grow(batchSize);
    this.handshakesThisSecond = 0;
    this.secondStart = Date.now();
    this.cookiesSent = 0;
    this.timer = setInterval(() => this.tick(), 250);
    this.timer.unref();
  }

  // --- TUN -> wire ---------------------------------------------------------

  onTunPackets(batch) {
    const n = batch.count;
    if (n > this.peerOf.length) this.grow(n);
    const peerOf = this.peerOf;
    this.allowed.classify(batch.data, batch.meta, n, peerOf);
    const now = Date.now();
    const dv = new DataView(batch.data.buffer, batch.data.byteOffset, batch.data.byteLength);
    const meta = batch.meta;
    // Peers in this batch, most often one: seal each one's packets in one call.
    let first = -1;
    let mixed = false;
    for (let i = 0; i < n; i++) {
      const p = peerOf[i];
      if (p < 0) {
        // No peer's allowed IPs hold the destination (or no IP packet):
        // dropped here, so that the seal below skips it.
        batch.drop(i);
        continue;
      }
      if (first < 0) first = p;
      else if (p !== first) mixed = true;
    }
    if (first < 0) return;
    const done = new Set();
    for (let s = 0; s < n; s++) {
      const pi = peerOf[s];
      if (pi < 0 || done.has(pi)) continue;
      done.add(pi);
      const peer = this.peers[pi];
      let count = 0;
      if (mixed) for (let i = s; i < n; i++) if (peerOf[i] === pi) this.entries[count++] = i;
      const kp = this.usable(peer, now);
      const known = this.endpoints.records[pi * 24] !== 0;
      if (!kp || !known) {
        // No session yet: keep copies, start one; these go when it is up.
        for (let i = s; i < n; i++) {
          if (peerOf[i] !== pi) continue;
          if (peer.staged.length < MAX_STAGED) peer.staged.push(batch.packet(i).slice());
          peerOf[i] = -1;
        }
        if (known) this.initiate(peer, now);
        continue;
      }
      const entries = mixed ? this.entries.subarray(0, count) : undefined;
      const each = (i) => {
        const at = meta[2 * i] - HEADER;
        dv.setUint32(at, noise.TYPE_DATA, true);
        dv.setUint32(at + 4, kp.remoteIndex, true);
      };
      if (entries) for (let k = 0; k < count; k++) each(entries[k]);
      else for (let i = 0; i < n; i++) if (peerOf[i] >= 0) each(i);
      const sealed = kp.send.seal(batch, {
        entries,
        counterAt: -8,
        pad: 16,
        verdicts: this.verdicts,
      });
      for (let k = 0, m = entries ? count : n; k < m; k++) {
        const i = entries ? entries[k] : k;
        if (peerOf[i] !== pi) continue;
        if (this.verdicts[i] !== Verdict.ok) peerOf[i] = -1;
        else peer.stats.txBytes += meta[2 * i + 1];
      }
      if (sealed > 0) {
        peer.lastSent = now;
        peer.lastDataSent = now;
        if (!peer.awaitingSince) peer.awaitingSince = now;
        if (
          kp.initiator &&
          (now - kp.created >= REKEY_AFTER_TIME || kp.send.nextCounter >= REKEY_AFTER_MESSAGES)
        )
          this.initiate(peer, now);
      }
    }
    this.udp
      .sendFrom(batch, { to: { table: this.endpoints, index: peerOf }, headroom: HEADER })
      .catch((err) => this.log(`udp: ${err.message}`));
  }

  /** The keypair to send with, or null (none, too old, or not confirmed). */
  usable(peer, now) {
    const kp = peer.current;
    if (!kp || now - kp.created >= REJECT_AFTER_TIME) return null;
    return kp;
  }

  // --- wire -> TUN ---------------------------------------------------------

  onDatagrams(batch) {
    const { data, meta, count } = batch;
    if (count > this.peerOf.length) this.grow(count);
    const now = Date.now();
    const groups = []; // { kp, peer, entries: number[], authentic, data }
    let last = null;
    for (let i = 0; i < count; i++) {
      const at = meta[3 * i];
      const len = meta[3 * i + 1];
      const type =
        len >= 4
          ? data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24)
          : -1;
      if (type === noise.TYPE_DATA && len >= 32) {
        const idx =
          (data[at + 4] | (data[at + 5] << 8) | (data[at + 6] << 16) | (data[at + 7] << 24)) >>> 0;
        if (!last || last.kp.localIndex !== idx) {
          const slot = this.indices.get(idx);
          if (!slot || !slot.keypair) {
            batch.drop(i);
            continue;
          }
          last = groups.find((g) => g.kp === slot.keypair);
          if (!last) {
            last = {
              kp: slot.keypair,
              peer: slot.peer,
              entries: [],
              authentic: false,
              data: false,
            };
            groups.push(last);
          }
        }
        last.entries.push(i);
        continue;
      }
      if (
        type === noise.TYPE_INITIATION ||
        type === noise.TYPE_RESPONSE ||
        type === noise.TYPE_COOKIE
      ) {
        this.onHandshakeMessage(Buffer.from(batch.datagram(i)), batch.sender(i), now);
      }
      batch.drop(i);
    }
    // Open each keypair's datagrams in one call; the authentic packets'
    // peers go in peerOf, their sources are checked below, per batch.
    const peerOf = this.peerOf;
    let opened = 0;
    for (const g of groups) {
      g.kp.recv.open(batch, {
        entries: Int32Array.from(g.entries),
        counterAt: 8,
        skip: HEADER,
        replay: g.kp.replay,
        verdicts: this.verdicts,
        trimToIp: true,
      });
      const stats = g.peer.stats;
      for (const i of g.entries) {
        const v = this.verdicts[i];
        if (v === Verdict.ok) {
          peerOf[opened] = g.peer.index;
          this.entries[opened++] = i;
          g.data = true;
        }
        if (v === Verdict.ok || v === Verdict.empty) g.authentic = true;
        else if (v === Verdict.replay) stats.replayed++;
        else stats.invalid++;
      }
    }
    const writes = this.checkSources(batch, opened);
    for (const g of groups) {
      if (!g.authentic) continue;
      const peer = g.peer;
      peer.lastRecv = now;
      peer.awaitingSince = 0;
      if (g.data) peer.lastDataRecv = now;
      // Roaming: the endpoint is wherever its latest authentic datagram came from.
      const m = meta[3 * g.entries[g.entries.length - 1] + 2];
      const rec = batch.peers.subarray(m * 24, m * 24 + 24);
      const mine = this.endpoints.records.subarray(peer.index * 24, peer.index * 24 + 24);
      if (!sameBytes(rec, mine)) mine.set(rec);
      // The initiator's first data confirms the responder's new keypair.
      if (g.kp === peer.next) this.rotate(peer, g.kp);
    }
    if (writes > 0) this.tun.sendFrom(batch).catch((err) => this.log(`tun: ${err.message}`));
  }

  /**
   * Cryptokey routing on the way in: the source of each opened packet
   * (entries[k], from peer peerOf[k]) must be one of that peer's allowed
   * IPs: one lookupBatch4 and one lookupBatch6 for the batch. Drops and
   * counts the others; returns how many packets are left to write.
   */
  checkSources(batch, n) {
    const { data, meta } = batch;
    const { src4, src6, at4, at6, found } = this;
    let n4 = 0;
    let n6 = 0;
    for (let k = 0; k < n; k++) {
      const at = meta[3 * this.entries[k]];
      if (data[at] >> 4 === 4) {
        src4[n4] =
          ((data[at + 12] << 24) | (data[at + 13] << 16) | (data[at + 14] << 8) | data[at + 15]) >>>
          0;
        at4[n4++] = k;
      } else {
        src6.set(data.subarray(at + 8, at + 24), 16 * n6);
        at6[n6++] = k;
      }
    }
    let writes = 0;
    const settle = (ks, m) => {
      for (let j = 0; j < m; j++) {
        const k = ks[j];
        const i = this.entries[k];
        const peer = this.peers[this.peerOf[k]];
        if (found[j] !== peer.index) {
          peer.stats.forged++;
          batch.drop(i);
        } else {
          peer.stats.rxBytes += meta[3 * i + 1];
          writes++;
        }
      }
    };
    if (n4 > 0) {
      this.allowed.lookupBatch4(src4.subarray(0, n4), found);
      settle(at4, n4);
    }
    if (n6 > 0) {
      this.allowed.lookupBatch6(src6.subarray(0, 16 * n6), found);
      settle(at6, n6);
    }
    return writes;
  }

  // --- handshakes ----------------------------------------------------------

  newIndex(slot) {
    let idx;
    do idx = nodeCrypto.randomBytes(4).readUInt32LE(0);
    while (idx === 0 || this.indices.has(idx));
    this.indices.set(idx, slot);
    return idx;
  }

  underLoad(now) {
    if (now - this.secondStart >= 1000) {
      this.secondStart = now;
      this.handshakesThisSecond = 0;
    }
    return ++this.handshakesThisSecond > LOAD_THRESHOLD;
  }

  onHandshakeMessage(msg, sender, now) {
    const type = msg[0];
    if (type === noise.TYPE_COOKIE) {
      if (msg.length !== noise.COOKIE_SIZE) return;
      const slot = this.indices.get(msg.readUInt32LE(4));
      if (slot && slot.handshake) noise.consumeCookieReply(slot.peer.keys, msg);
      return;
    }
    if (
      type === noise.TYPE_INITIATION
        ? msg.length !== noise.INITIATION_SIZE
        : msg.length !== noise.RESPONSE_SIZE
    )
      return;
    if (!noise.checkMac1(this.identity, msg)) return;
    if (this.underLoad(now) && !noise.checkMac2(this.identity, msg, sender.record)) {
      this.udp
        .send(noise.createCookieReply(this.identity, msg, sender.record), sender)
        .catch(() => {});
      this.cookiesSent++;
      return;
    }
    if (type === noise.TYPE_INITIATION) {
      const r = noise.consumeInitiation(this.identity, msg, (pub) =>
        this.byKey.get(Buffer.from(pub).toString('base64')),
      );
      if (!r || r.replay) return;
      const peer = r.peer;
      const slot = { peer, keypair: null };
      const localIndex = this.newIndex(slot);
      const resp = noise.createResponse(this.identity, peer.keys, r.state, localIndex);
      const kp = new Keypair(resp, false, localIndex, resp.remoteIndex);
      slot.keypair = kp;
      if (peer.next) this.forget(peer.next);
      peer.next = kp;
      this.endpoints.set(peer.index, sender);
      this.udp.send(resp.msg, sender).catch(() => {});
      peer.lastSent = now;
      this.log(`handshake from ${sender}: answered`);
      return;
    }
    // A response to our initiation.
    const slot = this.indices.get(msg.readUInt32LE(8));
    if (!slot || !slot.handshake) return;
    const peer = slot.peer;
    const t = noise.consumeResponse(this.identity, peer.keys, slot.handshake.state, msg);
    if (!t) return;
    const kp = new Keypair(t, true, slot.handshake.localIndex, t.remoteIndex);
    slot.handshake = null;
    slot.keypair = kp;
    peer.handshake = null;
    this.endpoints.set(peer.index, sender);
    peer.lastRecv = now;
    peer.awaitingSince = 0;
    this.rotate(peer, kp);
    this.log(`handshake with ${sender}: done`);
    // Confirm the keypair now: the staged packets, or a keepalive.
    if (!this.flushStaged(peer, now)) this.keepalive(peer, now);
  }

  /** kp becomes current; the old current becomes previous. */
  rotate(peer, kp) {
    if (peer.next === kp) peer.next = null;
    if (peer.previous) this.forget(peer.previous);
    peer.previous = peer.current;
    peer.current = kp;
    peer.lastHandshake = Date.now();
    peer.wantHandshakeSince = 0;
    peer.stats.handshakes++;
    if (!kp.initiator) this.flushStaged(peer, Date.now());
  }

  forget(kp) {
    this.indices.delete(kp.localIndex);
    kp.close();
  }

  initiate(peer, now) {
    if (peer.handshake && now - peer.handshake.sentAt < REKEY_TIMEOUT) return;
    if (this.endpoints.records[peer.index * 24] === 0) return;
    if (!peer.wantHandshakeSince) peer.wantHandshakeSince = now;
    if (peer.handshake) this.indices.delete(peer.handshake.localIndex);
    const slot = { peer, handshake: null };
    const localIndex = this.newIndex(slot);
    const { msg, state } = noise.createInitiation(this.identity, peer.keys, localIndex);
    slot.handshake = { state, localIndex };
    peer.handshake = { localIndex, sentAt: now };
    this.udp.send(msg, this.endpoints.get(peer.index)).catch(() => {});
    peer.lastSent = now;
  }

  /** Seals and sends copies kept while there was no session; false if none. */
  flushStaged(peer, now) {
    const kp = this.usable(peer, now);
    if (!kp || peer.staged.length === 0) return false;
    const packets = peer.staged;
    peer.staged = [];
    const size = packets.reduce((a, p) => a + HEADER + p.length + TAILROOM, 0);
    const data = new Uint8Array(size);
    const meta = new Int32Array(2 * packets.length);
    let at = 0;
    packets.forEach((p, i) => {
      data.set(p, at + HEADER);
      const dv = new DataView(data.buffer, at, 8);
      dv.setUint32(0, noise.TYPE_DATA, true);
      dv.setUint32(4, kp.remoteIndex, true);
      meta[2 * i] = at + HEADER;
      meta[2 * i + 1] = p.length;
      at += HEADER + p.length + TAILROOM;
    });
    const batch = { data, meta, count: packets.length, tailroom: TAILROOM };
    kp.send.seal(batch, { counterAt: -8, pad: 16 });
    this.udp
      .sendFrom(batch, { to: this.endpoints.get(peer.index), headroom: HEADER })
      .catch((err) => this.log(`udp: ${err.message}`));
    peer.lastSent = now;
    peer.lastDataSent = now;
    if (!peer.awaitingSince) peer.awaitingSince = now;
    return true;
  }

  keepalive(peer, now) {
    const kp = this.usable(peer, now);
    const to = this.endpoints.get(peer.index);
    if (!kp || !to) return;
    const data = new Uint8Array(HEADER + 16);
    const dv = new DataView(data.buffer);
    dv.setUint32(0, noise.TYPE_DATA, true);
    dv.setUint32(4, kp.remoteIndex, true);
    const batch = { data, meta: Int32Array.of(HEADER, 0), count: 1, tailroom: 16 };
    if (kp.send.seal(batch, { counterAt: -8 }) !== 1) return;
    this.udp.send(data, to).catch(() => {});
    peer.lastSent = now;
  }

  // --- timers (section 6.2-6.5 of the whitepaper), every 250 ms ------------

  tick() {
    const now = Date.now();
    for (const peer of this.peers) {
      // Our handshake unanswered: retry every REKEY_TIMEOUT, give up after REKEY_ATTEMPT_TIME.
      if (peer.handshake && now - peer.handshake.sentAt >= REKEY_TIMEOUT) {
        if (now - peer.wantHandshakeSince >= REKEY_ATTEMPT_TIME) {
          this.indices.delete(peer.handshake.localIndex);
          peer.handshake = null;
          peer.wantHandshakeSince = 0;
          peer.staged = [];
        } else {
          this.initiate(peer, now);
        }
      }
      // Sent data, heard nothing authentic for KEEPALIVE + REKEY_TIMEOUT:
      // a new handshake (the other side may have lost its keys).
      if (peer.awaitingSince && now - peer.awaitingSince >= KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) {
        peer.awaitingSince = 0;
        this.initiate(peer, now);
      }
      // The initiator rekeys a keypair that is old, while it is in use.
      const kp = peer.current;
      if (
        kp &&
        kp.initiator &&
        now - kp.created >= REKEY_AFTER_TIME &&
        now - peer.lastDataSent < KEEPALIVE_TIMEOUT
      )
        this.initiate(peer, now);
      // Received data, sent nothing back for KEEPALIVE: a keepalive.
      if (peer.lastDataRecv > peer.lastSent && now - peer.lastDataRecv >= KEEPALIVE_TIMEOUT)
        this.keepalive(peer, now);
      // Persistent keepalive.
      if (peer.keepalive > 0 && now - peer.lastSent >= peer.keepalive) {
        if (this.usable(peer, now)) this.keepalive(peer, now);
        else this.initiate(peer, now);
      }
      // Keys past REJECT_AFTER_TIME are useless; after 3x everything goes.
      for (const k of ['previous', 'current', 'next']) {
        const x = peer[k];
        if (x && now - x.created >= (k === 'current' ? 3 : 1) * REJECT_AFTER_TIME) {
          this.forget(x);
          peer[k] = null;
        }
      }
    }
  }

  status() {
    return this.peers.map((p) => ({
      peer: p.name,
      endpoint: this.endpoints.get(p.index)?.toString() ?? null,
      lastHandshake: p.lastHandshake,
      ...p.stats,
      cookies: this.cookiesSent,
    }));
  }

  /** Scratch arrays of a batch's size (per entry). */
  grow(n) {
    this.peerOf = new Int32Array(n);
    this.entries = new Int32Array(n);
    this.verdicts = new Uint8Array(n);
    this.src4 = new Uint32Array(n);
    this.src6 = new Uint8Array(16 * n);
    this.at4 = new Int32Array(n);
    this.at6 = new Int32Array(n);
    this.found = new Int32Array(n);
  }

  close() {
    clearInterval(this.timer);
    for (const p of this.peers) for (const k of [p.previous, p.current, p.next]) if (k) k.close();
  }
}

function sameBytes(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

module.exports = { WireGuardDevice, HEADER, TAILROOM };
