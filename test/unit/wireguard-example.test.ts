// examples/wireguard's handshake, cookies and config reader, without a
// network: both sides derive the same transport keys (and AeadKey carries a
// packet with them), a cookie reply makes the next initiation's mac2 valid
// for that sender only, replayed initiations and strangers are refused, and
// wg-quick files parse or fail with the line at fault.
/* eslint-disable @typescript-eslint/no-require-imports */
import { randomBytes } from 'node:crypto';

import { AeadKey, Verdict } from '../../lib';

const noise = require('../../examples/wireguard/noise');
const { parse } = require('../../examples/wireguard/config');

function pair() {
  const a = new noise.Identity(randomBytes(32));
  const b = new noise.Identity(randomBytes(32));
  return { a, b, aKnowsB: new noise.PeerKeys(a, b.pub), bKnowsA: new noise.PeerKeys(b, a.pub) };
}

const src = (port: number) => Uint8Array.of(4, 0, port & 255, port >> 8, 192, 0, 2, 1);

describe('examples/wireguard noise.js', () => {
  test('both sides derive the same transport keys, and a packet crosses with them', () => {
    const { a, b, aKnowsB, bKnowsA } = pair();
    const init = noise.createInitiation(a, aKnowsB, 11);
    expect(noise.checkMac1(b, init.msg)).toBe(true);
    const got = noise.consumeInitiation(b, init.msg, () => ({ keys: bKnowsA }));
    expect(got.state.remoteIndex).toBe(11);
    const resp = noise.createResponse(b, bKnowsA, got.state, 22);
    expect(noise.checkMac1(a, resp.msg)).toBe(true);
    const t = noise.consumeResponse(a, aKnowsB, init.state, resp.msg);
    expect(t.remoteIndex).toBe(22);
    const send = new AeadKey('chacha20-poly1305', t.send);
    const recv = new AeadKey('chacha20-poly1305', resp.recv);
    const data = new Uint8Array(64);
    data.set(randomBytes(20), 16);
    const plain = data.slice(16, 36);
    const meta = Int32Array.of(16, 20);
    expect(send.seal({ data, meta, count: 1, tailroom: 32 }, { counterAt: -8 })).toBe(1);
    const verdicts = new Uint8Array(1);
    const dmeta = Int32Array.of(8, 8 + meta[1]);
    expect(recv.open({ data, meta: dmeta, count: 1 }, { counterAt: 0, skip: 8, verdicts })).toBe(1);
    expect(verdicts[0]).toBe(Verdict.ok);
    expect(Buffer.from(data.subarray(16, 36)).equals(Buffer.from(plain))).toBe(true);
  });

  test('a replayed initiation, a stranger and a tampered response are refused', async () => {
    const { a, b, aKnowsB, bKnowsA } = pair();
    const init = noise.createInitiation(a, aKnowsB, 1);
    expect(noise.consumeInitiation(b, init.msg, () => ({ keys: bKnowsA })).replay).toBeUndefined();
    expect(noise.consumeInitiation(b, init.msg, () => ({ keys: bKnowsA })).replay).toBe(true);
    expect(
      noise.consumeInitiation(b, noise.createInitiation(a, aKnowsB, 2).msg, () => null),
    ).toBeNull();
    // To someone else: mac1 is wrong for them, and they cannot read it.
    const c = new noise.Identity(randomBytes(32));
    expect(noise.checkMac1(c, init.msg)).toBe(false);
    expect(noise.consumeInitiation(c, init.msg, () => ({ keys: bKnowsA }))).toBeNull();
    // TAI64N is rounded to 2^24 ns: a new initiation within 17 ms is a replay.
    await new Promise((r) => setTimeout(r, 20));
    const init2 = noise.createInitiation(a, aKnowsB, 3);
    const got = noise.consumeInitiation(b, init2.msg, () => ({ keys: bKnowsA }));
    const resp = noise.createResponse(b, bKnowsA, got.state, 4);
    resp.msg[50] ^= 1;
    expect(noise.consumeResponse(a, aKnowsB, init2.state, resp.msg)).toBeNull();
  });

  test("a cookie reply makes the next initiation's mac2 valid, for that sender only", () => {
    const { a, b, aKnowsB } = pair();
    const first = noise.createInitiation(a, aKnowsB, 1);
    expect(noise.checkMac2(b, first.msg, src(51820))).toBe(false);
    const reply = noise.createCookieReply(b, first.msg, src(51820));
    expect(reply.readUInt32LE(4)).toBe(1);
    const second = noise.createInitiation(a, aKnowsB, 2);
    // A reply to an older message (another mac1) is refused.
    expect(noise.consumeCookieReply(aKnowsB, reply)).toBe(false);
    const reply2 = noise.createCookieReply(b, second.msg, src(51820));
    expect(noise.consumeCookieReply(aKnowsB, reply2)).toBe(true);
    const third = noise.createInitiation(a, aKnowsB, 3);
    expect(noise.checkMac1(b, third.msg)).toBe(true);
    expect(noise.checkMac2(b, third.msg, src(51820))).toBe(true);
    expect(noise.checkMac2(b, third.msg, src(51821))).toBe(false);
  });
});

describe('examples/wireguard config.js', () => {
  const k = () => randomBytes(32).toString('base64');
  test('a wg-quick file', () => {
    const pub = k();
    const cfg = parse(`# a comment
[Interface]
PrivateKey = ${k()}
Address = 198.18.7.1/24, 2001:db8:7::1/64
ListenPort = 51820
DNS = 192.0.2.53
MTU = 1380

[Peer]
PublicKey = ${pub}
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = [2001:db8::2]:51820
PersistentKeepalive = 25
`);
    expect(cfg.interface).toMatchObject({
      addresses: ['198.18.7.1/24', '2001:db8:7::1/64'],
      listenPort: 51820,
      dns: ['192.0.2.53'],
      mtu: 1380,
    });
    expect(cfg.peers).toEqual([
      {
        publicKey: Buffer.from(pub, 'base64'),
        presharedKey: null,
        allowedIPs: ['0.0.0.0/0', '::/0'],
        endpoint: { host: '2001:db8::2', port: 51820 },
        persistentKeepalive: 25,
      },
    ]);
  });

  test.each([
    [`[Interface]\nPrivateKey = abc\n`, /PrivateKey is not a base64 32-byte key/],
    [`[Interface]\nPrivateKey = ${k()}\nPostUp = rm -rf /\n`, /line 3: PostUp is not supported/],
    [`[Interface]\nPrivateKey = ${k()}\n[Peer]\nAllowedIPs = 0.0.0.0/0\n`, /has no PublicKey/],
    [`[Interface]\nPrivateKey = ${k()}\nMTU = 99999\n`, /line 3: 99999 is not an integer/],
    [
      `[Interface]\nPrivateKey = ${k()}\n[Peer]\nPublicKey = ${k()}\nEndpoint = nowhere\n`,
      /Endpoint nowhere/,
    ],
  ])('refuses %#', (text, message) => {
    expect(() => parse(text)).toThrow(message);
  });
});
