'use strict';
// WireGuard's handshake (Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s), its MACs
// and cookie replies, as the whitepaper (https://www.wireguard.com/papers/
// wireguard.pdf, section 5.4) states them. X25519 and ChaCha20-Poly1305
// come from node:crypto, BLAKE2s and HMAC from @noble/hashes,
// XChaCha20-Poly1305 (cookies only) from @noble/ciphers: nothing here is a
// cipher of our own. Pure functions of the message bytes and state objects;
// device.js drives them.
const nodeCrypto = require('node:crypto');
const { blake2s } = require('@noble/hashes/blake2s');
const { hmac } = require('@noble/hashes/hmac');
const { xchacha20poly1305 } = require('@noble/ciphers/chacha');

const CONSTRUCTION = Buffer.from('Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s');
const IDENTIFIER = Buffer.from('WireGuard v1 zx2c4 Jason@zx2c4.com');
const LABEL_MAC1 = Buffer.from('mac1----');
const LABEL_COOKIE = Buffer.from('cookie--');

const TYPE_INITIATION = 1;
const TYPE_RESPONSE = 2;
const TYPE_COOKIE = 3;
const TYPE_DATA = 4;
const INITIATION_SIZE = 148;
const RESPONSE_SIZE = 92;
const COOKIE_SIZE = 64;

const ZERO32 = new Uint8Array(32);
const EMPTY = new Uint8Array(0);

const hash = (...parts) => blake2s(Buffer.concat(parts), { dkLen: 32 });
const mac = (key, msg) => blake2s(msg, { key, dkLen: 16 });
const hmacB2s = (key, msg) => hmac(blake2s, key, msg);

/** KDF_n of the whitepaper: n 32-byte outputs of HKDF over HMAC-BLAKE2s. */
function kdf(n, key, input) {
  const t0 = hmacB2s(key, input);
  const out = [];
  let prev = EMPTY;
  for (let i = 1; i <= n; i++) {
    prev = hmacB2s(t0, Buffer.concat([prev, Uint8Array.of(i)]));
    out.push(prev);
  }
  return out;
}

function nonce12(counter) {
  const n = Buffer.alloc(12);
  n.writeBigUInt64LE(BigInt(counter), 4);
  return n;
}

function aeadSeal(key, counter, plain, ad) {
  const c = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce12(counter), {
    authTagLength: 16,
  });
  c.setAAD(ad, { plaintextLength: plain.length });
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/** null when the tag does not verify. */
function aeadOpen(key, counter, sealed, ad) {
  if (sealed.length < 16) return null;
  const d = nodeCrypto.createDecipheriv('chacha20-poly1305', key, nonce12(counter), {
    authTagLength: 16,
  });
  d.setAAD(ad, { plaintextLength: sealed.length - 16 });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
  } catch {
    return null;
  }
}

// --- X25519 over node:crypto, with raw 32-byte keys as WireGuard has them ---
const PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI = Buffer.from('302a300506032b656e032100', 'hex');

function privateKey(raw) {
  return nodeCrypto.createPrivateKey({
    key: Buffer.concat([PKCS8, raw]),
    format: 'der',
    type: 'pkcs8',
  });
}
function publicKeyOf(priv) {
  return nodeCrypto
    .createPublicKey(priv)
    .export({ format: 'der', type: 'spki' })
    .subarray(SPKI.length);
}
function publicKey(raw) {
  return nodeCrypto.createPublicKey({
    key: Buffer.concat([SPKI, raw]),
    format: 'der',
    type: 'spki',
  });
}
/** DH(priv, pub); throws on a low-order public key (an all-zero result). */
function dh(priv, pubRaw) {
  const s = nodeCrypto.diffieHellman({ privateKey: priv, publicKey: publicKey(pubRaw) });
  if (s.every((b) => b === 0)) throw new Error('low-order public key');
  return s;
}
function generate() {
  const { privateKey: priv } = nodeCrypto.generateKeyPairSync('x25519');
  return { priv, pub: publicKeyOf(priv) };
}

/** TAI64N, its nanoseconds rounded down to 2^24 ns (wireguard-go does: no timing leak). */
function tai64n(now = Date.now()) {
  const b = Buffer.alloc(12);
  const secs = Math.floor(now / 1000);
  b.writeBigUInt64BE(0x400000000000000an + BigInt(secs), 0);
  b.writeUInt32BE(((now % 1000) * 1e6) & ~0xffffff, 8);
  return b;
}

/** Our side of the protocol: the static key pair and what follows from it. */
class Identity {
  constructor(privateRaw) {
    this.priv = privateKey(privateRaw);
    this.pub = publicKeyOf(this.priv);
    this.mac1Key = hash(LABEL_MAC1, this.pub); // for messages to us
    this.cookieKey = hash(LABEL_COOKIE, this.pub);
    // Under load: the secret cookies are made from, changed every 2 minutes.
    this.cookieSecret = nodeCrypto.randomBytes(32);
    this.cookieSecretTime = Date.now();
    const h0 = hash(CONSTRUCTION);
    this.chain0 = h0;
    this.hash0 = hash(h0, IDENTIFIER);
  }
}

/** What we know of a peer for the handshake. */
class PeerKeys {
  constructor(identity, publicRaw, psk) {
    this.pub = Buffer.from(publicRaw);
    this.psk = psk ? Buffer.from(psk) : Buffer.from(ZERO32);
    this.mac1Key = hash(LABEL_MAC1, this.pub); // for messages to them
    this.cookieKey = hash(LABEL_COOKIE, this.pub);
    this.staticShared = dh(identity.priv, this.pub); // DH(S_priv_i, S_pub_r), either side
    this.lastTimestamp = Buffer.alloc(12); // the newest initiation's TAI64N
    this.cookie = null; // from their cookie reply: { value, time }
    this.lastMac1 = null; // of our last handshake message to them
  }
}

/** mac1 and (with a fresh cookie) mac2 of a message whose last 32 bytes are the MACs. */
function addMacs(msg, peer) {
  const n = msg.length;
  const m1 = mac(peer.mac1Key, msg.subarray(0, n - 32));
  msg.set(m1, n - 32);
  peer.lastMac1 = Buffer.from(m1);
  if (peer.cookie && Date.now() - peer.cookie.time < 120000) {
    msg.set(mac(peer.cookie.value, msg.subarray(0, n - 16)), n - 16);
  }
}

/** Whether msg's mac1 is right for us. */
function checkMac1(identity, msg) {
  const n = msg.length;
  return nodeCrypto.timingSafeEqual(
    mac(identity.mac1Key, msg.subarray(0, n - 32)),
    msg.subarray(n - 32, n - 16),
  );
}

/** The cookie for a sender (IP bytes and port as the UdpPeer record has them). */
function cookieFor(identity, source) {
  if (Date.now() - identity.cookieSecretTime > 120000) {
    identity.cookieSecret = nodeCrypto.randomBytes(32);
    identity.cookieSecretTime = Date.now();
  }
  return mac(identity.cookieSecret, source);
}

function checkMac2(identity, msg, source) {
  const n = msg.length;
  const want = mac(cookieFor(identity, source), msg.subarray(0, n - 16));
  return nodeCrypto.timingSafeEqual(want, msg.subarray(n - 16));
}

/** A cookie reply to msg (an initiation or response we will not process now). */
function createCookieReply(identity, msg, source) {
  const out = Buffer.alloc(COOKIE_SIZE);
  out[0] = TYPE_COOKIE;
  msg.copy(out, 4, 4, 8); // their sender index
  const nonce = nodeCrypto.randomBytes(24);
  out.set(nonce, 8);
  const mac1 = msg.subarray(msg.length - 32, msg.length - 16);
  const sealed = xchacha20poly1305(identity.cookieKey, nonce, mac1).encrypt(
    cookieFor(identity, source),
  );
  out.set(sealed, 32);
  return out;
}

/** Takes a cookie reply from peer: true if it matched our last message's mac1. */
function consumeCookieReply(peer, msg) {
  if (!peer.lastMac1) return false;
  try {
    const cookie = xchacha20poly1305(peer.cookieKey, msg.subarray(8, 32), peer.lastMac1).decrypt(
      msg.subarray(32, 64),
    );
    peer.cookie = { value: Buffer.from(cookie), time: Date.now() };
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a handshake to peer: the initiation message (mac1/mac2 set) and the
 * state to finish it with the response.
 */
function createInitiation(identity, peer, senderIndex) {
  let c = identity.chain0;
  let h = hash(identity.hash0, peer.pub);
  const e = generate();
  const msg = Buffer.alloc(INITIATION_SIZE);
  msg[0] = TYPE_INITIATION;
  msg.writeUInt32LE(senderIndex, 4);
  [c] = kdf(1, c, e.pub);
  msg.set(e.pub, 8);
  h = hash(h, e.pub);
  let k;
  [c, k] = kdf(2, c, dh(e.priv, peer.pub));
  const stat = aeadSeal(k, 0, identity.pub, h);
  msg.set(stat, 40);
  h = hash(h, stat);
  [c, k] = kdf(2, c, peer.staticShared);
  const ts = aeadSeal(k, 0, tai64n(), h);
  msg.set(ts, 88);
  h = hash(h, ts);
  addMacs(msg, peer);
  return { msg, state: { c, h, e, senderIndex } };
}

/**
 * Reads an initiation to us (mac1 already checked): the peer it is from
 * (by its static key, among `peers`) and the state to answer it, or null.
 */
function consumeInitiation(identity, msg, findPeer) {
  if (msg.length !== INITIATION_SIZE) return null;
  let c = identity.chain0;
  let h = hash(identity.hash0, identity.pub);
  const ePub = msg.subarray(8, 40);
  [c] = kdf(1, c, ePub);
  h = hash(h, ePub);
  let k;
  try {
    [c, k] = kdf(2, c, dh(identity.priv, ePub));
  } catch {
    return null;
  }
  const stat = msg.subarray(40, 88);
  const spub = aeadOpen(k, 0, stat, h);
  if (!spub) return null;
  h = hash(h, stat);
  const peer = findPeer(spub);
  if (!peer) return null;
  [c, k] = kdf(2, c, peer.keys.staticShared);
  const tsSealed = msg.subarray(88, 116);
  const ts = aeadOpen(k, 0, tsSealed, h);
  if (!ts) return null;
  h = hash(h, tsSealed);
  // Replayed initiations: the timestamp must grow.
  if (Buffer.compare(ts, peer.keys.lastTimestamp) <= 0) return { peer, replay: true };
  peer.keys.lastTimestamp = ts;
  return { peer, state: { c, h, ePub: Buffer.from(ePub), remoteIndex: msg.readUInt32LE(4) } };
}

/**
 * Answers a consumed initiation: the response message and the transport
 * keys (responder: receive first, send second).
 */
function createResponse(identity, peer, state, senderIndex) {
  let { c, h } = state;
  const e = generate();
  const msg = Buffer.alloc(RESPONSE_SIZE);
  msg[0] = TYPE_RESPONSE;
  msg.writeUInt32LE(senderIndex, 4);
  msg.writeUInt32LE(state.remoteIndex, 8);
  [c] = kdf(1, c, e.pub);
  msg.set(e.pub, 12);
  h = hash(h, e.pub);
  [c] = kdf(1, c, dh(e.priv, state.ePub));
  [c] = kdf(1, c, dh(e.priv, peer.pub));
  let tau, k;
  [c, tau, k] = kdf(3, c, peer.psk);
  h = hash(h, tau);
  const empty = aeadSeal(k, 0, EMPTY, h);
  msg.set(empty, 44);
  h = hash(h, empty);
  addMacs(msg, peer);
  const [recv, send] = kdf(2, c, EMPTY);
  return { msg, send, recv, remoteIndex: state.remoteIndex };
}

/** Finishes our initiation with its response: the transport keys, or null. */
function consumeResponse(identity, peer, state, msg) {
  if (msg.length !== RESPONSE_SIZE) return null;
  let { c, h } = state;
  const ePub = msg.subarray(12, 44);
  [c] = kdf(1, c, ePub);
  h = hash(h, ePub);
  try {
    [c] = kdf(1, c, dh(state.e.priv, ePub));
    [c] = kdf(1, c, dh(identity.priv, ePub));
  } catch {
    return null;
  }
  let tau, k;
  [c, tau, k] = kdf(3, c, peer.psk);
  h = hash(h, tau);
  if (!aeadOpen(k, 0, msg.subarray(44, 60), h)) return null;
  const [send, recv] = kdf(2, c, EMPTY);
  return { send, recv, remoteIndex: msg.readUInt32LE(4) };
}

module.exports = {
  TYPE_INITIATION,
  TYPE_RESPONSE,
  TYPE_COOKIE,
  TYPE_DATA,
  INITIATION_SIZE,
  RESPONSE_SIZE,
  COOKIE_SIZE,
  Identity,
  PeerKeys,
  checkMac1,
  checkMac2,
  createCookieReply,
  consumeCookieReply,
  createInitiation,
  consumeInitiation,
  createResponse,
  consumeResponse,
  publicKeyOf,
  privateKey,
  tai64n,
};
