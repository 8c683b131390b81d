// examples/wireguard against Debian's wireguard-go, in two network
// namespaces of the test's own joined by a veth pair (192.0.2.0/24): the
// handshake completes whichever side starts it; ping and byte-exact TCP
// cross both ways, IPv4 and IPv6 inside; a rekey in the middle of traffic
// loses nothing; a packet whose inner source is not the peer's is dropped;
// a replayed datagram is dropped; a wrong key never completes a handshake.
import { spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ip, plainEnv } from '../helpers/ip';
import { describeNetns, strict } from '../helpers/netns';
import { joinByVeth, startInNetns, type NsProcess } from '../helpers/netns-pair';

jest.setTimeout(90000);

const root = path.join(__dirname, '../..');
const PEER = path.join(root, 'examples/wireguard/peer.js');
const tag = String(process.pid % 100000);
const NS = { ours: `wgt-o-${tag}`, go: `wgt-g-${tag}`, third: `wgt-t-${tag}` };
const WG = `wgt${tag}`; // wireguard-go's interface (its UAPI socket name is global)
const OURS = { v4: '198.18.7.1', v6: '2001:db8:7::1' };
const GO = { v4: '198.18.7.2', v6: '2001:db8:7::2' };
const children: ChildProcess[] = [];
let dir = '';

const have = (cmd: string) =>
  (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, cmd)));
const missing = ['wireguard-go', 'wg'].filter((c) => !have(c));

function wg(...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', NS.go, 'wg', ...args], {
    encoding: 'utf8',
    env: plainEnv(),
  });
}
function genkey(): { priv: string; pub: string } {
  const priv = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
  const pub = execFileSync('wg', ['pubkey'], { input: priv, encoding: 'utf8' }).trim();
  return { priv, pub };
}

/** A process in a namespace (stopped after each test). */
function start(ns: string, argv: string[], env: NodeJS.ProcessEnv = {}): NsProcess {
  const p = startInNetns(ns, argv, env);
  children.push(p.child);
  return p;
}

function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 3000).unref();
  });
}

interface PeerStatus {
  handshakes: number;
  cookies: number;
  forged: number;
  replayed: number;
  invalid: number;
  endpoint: string | null;
}

/** Our peer, from a config file; resolves once it printed "ready". */
async function ours(
  conf: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
  ns: string = NS.ours,
) {
  const file = path.join(dir, `ours-${children.length}.conf`);
  fs.writeFileSync(file, conf, { mode: 0o600 });
  const p = start(ns, [process.execPath, PEER, '--config', file, ...args], {
    STATE_DIR: path.join(dir, 'state'),
    ...env,
  });
  await p.next((l) => l.includes('"ready"'));
  // The status printed after this call (each second).
  const statusAll = async (): Promise<PeerStatus[]> => {
    const isStatus = (x: string) => x.startsWith('{"status"');
    // Lines printed while a spawnSync held our loop are still in the pipe:
    // read them in, then forget them.
    await new Promise((r) => setTimeout(r, 100));
    p.drop(isStatus);
    const l = await p.next(isStatus);
    return (JSON.parse(l) as { status: PeerStatus[] }).status;
  };
  return { ...p, status: async () => (await statusAll())[0], statusAll };
}

/** wireguard-go on interface WG in NS.go, configured with `wg set`. */
async function wireguardGo(setArgs: string[]) {
  const sock = `/var/run/wireguard/${WG}.sock`;
  fs.rmSync(sock, { force: true }); // a killed one's would send `wg` to the kernel
  const p = start(NS.go, ['wireguard-go', '-f', WG]);
  for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
  wg('set', WG, ...setArgs);
  ip('-n', NS.go, 'addr', 'add', `${GO.v4}/24`, 'dev', WG);
  ip('-n', NS.go, 'addr', 'add', `${GO.v6}/64`, 'dev', WG, 'nodad');
  ip('-n', NS.go, 'link', 'set', WG, 'up');
  return p;
}

function ping(ns: string, to: string, extra: string[] = []): { ok: boolean; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-W', '1', ...extra, to], {
    encoding: 'utf8',
    env: plainEnv(),
  });
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

function latestHandshake(): number {
  const line = wg('show', WG, 'latest-handshakes').trim().split(/\s+/);
  return Number(line[1] ?? 0);
}

// TCP through the tunnel: 6 MB of a known stream, its sha256 at the sink.
const SENDER = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const chunk = (i) => { const b = Buffer.alloc(65536); for (let k = 0; k < 65536; k++) b[k] = (i * 29 + k * 13) & 255; return b; };
const s = net.connect(Number(port), host, async () => {
  for (let i = 0; i < 96; i++) if (!s.write(chunk(i))) await new Promise((r) => s.once('drain', r));
  s.end();
});
s.on('error', (e) => { console.error(e.message); process.exit(1); });
`;
const expected = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < 96; i++) {
    const b = Buffer.alloc(65536);
    for (let k = 0; k < 65536; k++) b[k] = (i * 29 + k * 13) & 255;
    h.update(b);
  }
  return h.digest('hex');
})();

async function tcp(fromNs: string, sinkNs: string, to: string, port: number): Promise<void> {
  const sink = start(sinkNs, [
    process.execPath,
    path.join(root, 'test/fixtures/sink.js'),
    'tcp',
    String(port),
  ]);
  await sink.next((l) => l === 'ready');
  start(fromNs, [process.execPath, '-e', SENDER, to, String(port)]);
  const r = JSON.parse(await sink.next((l) => l.startsWith('{'), 60000)) as {
    bytes: number;
    sha256: string;
  };
  expect(r).toEqual({ bytes: 96 * 65536, sha256: expected });
}

describeNetns('examples/wireguard with wireguard-go', () => {
  let me: { priv: string; pub: string };
  let them: { priv: string; pub: string };
  let ourConf: (extra?: { peerKey?: string; endpoint?: string; allowed?: string }) => string;

  beforeAll(() => {
    if (missing.length > 0) {
      const why = `${missing.join(' and ')} not installed (apt install wireguard-go wireguard-tools)`;
      if (strict) throw new Error(why);
      return;
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-provider-wg-'));
    for (const ns of Object.values(NS)) ip('netns', 'add', ns);
    joinByVeth(NS.ours, NS.go, '192.0.2.1/24', '192.0.2.2/24');
    // A third namespace, our own client's in the many-peers test.
    joinByVeth(NS.ours, NS.third, '198.51.100.1/24', '198.51.100.2/24', 'wan1');
    me = genkey();
    them = genkey();
    ourConf = (o = {}) => `[Interface]
PrivateKey = ${me.priv}
Address = ${OURS.v4}/24, ${OURS.v6}/64
ListenPort = 51820

[Peer]
PublicKey = ${o.peerKey ?? them.pub}
AllowedIPs = ${o.allowed ?? `${GO.v4}/32, ${GO.v6}/128`}
${o.endpoint === '' ? '' : `Endpoint = ${o.endpoint ?? '192.0.2.2:51820'}`}
`;
  });

  afterEach(async () => {
    await Promise.all(children.map(stop));
    children.length = 0;
  });

  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (missing.length > 0) return;
    for (const ns of Object.values(NS)) ip('netns', 'del', ns);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const goPeer = (o: { endpoint?: string; allowed?: string; key?: string } = {}) => [
    'private-key',
    '/dev/stdin',
    'listen-port',
    '51820',
    'peer',
    o.key ?? me.pub,
    'allowed-ips',
    o.allowed ?? `${OURS.v4}/32,${OURS.v6}/128`,
    ...(o.endpoint ? ['endpoint', o.endpoint] : []),
  ];
  // `wg set private-key` reads a file: give it through a 0600 file of ours.
  const withKey = (args: string[]) => {
    const f = path.join(dir, 'go.key');
    fs.writeFileSync(f, them.priv + '\n', { mode: 0o600 });
    return args.map((a) => (a === '/dev/stdin' ? f : a));
  };

  test('our client starts the handshake: ping and TCP both ways, IPv4 and IPv6 inside', async () => {
    await wireguardGo(withKey(goPeer()));
    const p = await ours(ourConf());
    for (const to of [GO.v4, GO.v6])
      expect(ping(NS.ours, to, ['-c', '3', '-i', '0.2']).ok).toBe(true);
    for (const to of [OURS.v4, OURS.v6])
      expect(ping(NS.go, to, ['-c', '3', '-i', '0.2']).ok).toBe(true);
    await tcp(NS.ours, NS.go, GO.v4, 5301);
    await tcp(NS.go, NS.ours, OURS.v6, 5302);
    expect(latestHandshake()).toBeGreaterThan(0);
    expect((await p.status()).handshakes).toBeGreaterThanOrEqual(1);
  });

  test('wireguard-go starts the handshake to our server', async () => {
    const p = await ours(ourConf({ endpoint: '' }), ['--server', '--name', 'wgo0']);
    await wireguardGo(withKey(goPeer({ endpoint: '192.0.2.1:51820' })));
    expect(ping(NS.go, OURS.v4, ['-c', '3', '-i', '0.2']).ok).toBe(true);
    expect(ping(NS.ours, GO.v6, ['-c', '2', '-i', '0.2']).ok).toBe(true);
    await tcp(NS.go, NS.ours, OURS.v4, 5303);
    const s = await p.status();
    expect(s.handshakes).toBe(1); // theirs, answered: we never initiated
    expect(s.endpoint).toBe('192.0.2.2:51820');
  });

  test('roaming: our server follows wireguard-go to its new port', async () => {
    const p = await ours(ourConf({ endpoint: '' }), ['--server', '--name', 'wgo0']);
    await wireguardGo(withKey(goPeer({ endpoint: '192.0.2.1:51820' })));
    expect(ping(NS.go, OURS.v4, ['-c', '2', '-i', '0.2']).ok).toBe(true);
    expect((await p.status()).endpoint).toBe('192.0.2.2:51820');
    wg('set', WG, 'listen-port', '51821');
    expect(ping(NS.go, OURS.v4, ['-c', '2', '-i', '0.2']).ok).toBe(true);
    expect((await p.status()).endpoint).toBe('192.0.2.2:51821');
    // Our side's own traffic now goes to the new port.
    expect(ping(NS.ours, GO.v4, ['-c', '2', '-i', '0.2']).ok).toBe(true);
  });

  test('under load our server answers with a cookie; wireguard-go retries with mac2 and gets in', async () => {
    // WG_LOAD_THRESHOLD=0: every handshake message counts as "under load".
    const p = await ours(ourConf({ endpoint: '' }), ['--server', '--name', 'wgo0'], {
      WG_LOAD_THRESHOLD: '0',
    });
    await wireguardGo(withKey(goPeer({ endpoint: '192.0.2.1:51820' })));
    // wireguard-go's first initiation gets a cookie reply; its retry (5 s
    // later) carries mac2 and is answered.
    const r = ping(NS.go, OURS.v4, ['-c', '1', '-w', '12']);
    expect(r.ok).toBe(true);
    const s = await p.status();
    expect(s.handshakes).toBe(1);
    expect(s.cookies).toBeGreaterThanOrEqual(1);
  });

  test('a server with two peers: wireguard-go and our own client, TCP to both at once', async () => {
    // The server's TUN batches then hold packets for both peers: each peer's
    // share is sealed with its key (one call each) and sent in one sendFrom.
    const third = genkey();
    const server = await ours(
      `${ourConf({ endpoint: '' })}
[Peer]
PublicKey = ${third.pub}
AllowedIPs = 198.18.7.3/32
`,
      ['--server', '--name', 'wgo0'],
    );
    await wireguardGo(withKey(goPeer({ endpoint: '192.0.2.1:51820' })));
    await ours(
      `[Interface]
PrivateKey = ${third.priv}
Address = 198.18.7.3/24

[Peer]
PublicKey = ${me.pub}
AllowedIPs = ${OURS.v4}/32
Endpoint = 198.51.100.1:51820
PersistentKeepalive = 1
`,
      [],
      { STATE_DIR: path.join(dir, 'state-third') },
      NS.third,
    );
    expect(ping(NS.go, OURS.v4, ['-c', '2', '-i', '0.2']).ok).toBe(true);
    expect(ping(NS.third, OURS.v4, ['-c', '2', '-i', '0.2']).ok).toBe(true);
    const sinks = [
      start(NS.go, [process.execPath, path.join(root, 'test/fixtures/sink.js'), 'tcp', '5305']),
      start(NS.third, [process.execPath, path.join(root, 'test/fixtures/sink.js'), 'tcp', '5306']),
    ];
    await Promise.all(sinks.map((k) => k.next((l) => l === 'ready')));
    start(NS.ours, [process.execPath, '-e', SENDER, GO.v4, '5305']);
    start(NS.ours, [process.execPath, '-e', SENDER, '198.18.7.3', '5306']);
    for (const k of sinks) {
      const r = JSON.parse(await k.next((l) => l.startsWith('{'), 60000)) as {
        bytes: number;
        sha256: string;
      };
      expect(r).toEqual({ bytes: 96 * 65536, sha256: expected });
    }
    const st = await server.statusAll();
    expect(st.map((x) => x.handshakes >= 1)).toEqual([true, true]);
    expect(st.map((x) => x.endpoint)).toEqual([
      '192.0.2.2:51820',
      expect.stringMatching(/^198\.51\.100\.2:\d+$/),
    ]);
  });

  test('a rekey in the middle of traffic loses nothing', async () => {
    await wireguardGo(withKey(goPeer()));
    const p = await ours(ourConf(), [], { WG_REKEY_AFTER_TIME: '2' });
    const flood = ping(NS.ours, GO.v4, ['-c', '120', '-i', '0.05']);
    await tcp(NS.ours, NS.go, GO.v4, 5304);
    expect(flood.out).toContain('120 received');
    expect((await p.status()).handshakes).toBeGreaterThanOrEqual(3);
  });

  test("a packet whose inner source is not one of the peer's allowed IPs is dropped", async () => {
    // wireguard-go sends for us from 198.18.7.99 too; our peer allows only .2.
    await wireguardGo(withKey(goPeer()));
    ip('-n', NS.go, 'addr', 'add', '198.18.7.99/32', 'dev', WG);
    const p = await ours(ourConf());
    expect(ping(NS.go, OURS.v4, ['-c', '2', '-i', '0.2']).ok).toBe(true);
    expect(ping(NS.go, OURS.v4, ['-c', '3', '-i', '0.2', '-I', '198.18.7.99']).ok).toBe(false);
    expect((await p.status()).forged).toBeGreaterThanOrEqual(3);
  });

  test('a replayed datagram is dropped', async () => {
    // A relay in wireguard-go's namespace sends each of its data messages twice.
    await wireguardGo(withKey(goPeer()));
    const relay = start(NS.go, [
      process.execPath,
      '-e',
      `const dgram = require('node:dgram');
       const up = dgram.createSocket('udp4'), down = dgram.createSocket('udp4');
       let client = null;
       down.on('message', (m, r) => { client = r; up.send(m, 51820, '192.0.2.2'); });
       up.on('message', (m) => { if (!client) return; down.send(m, client.port, client.address);
         if (m[0] === 4) down.send(m, client.port, client.address); });
       down.bind(51900, '192.0.2.2', () => console.log('ready'));`,
    ]);
    await relay.next((l) => l === 'ready');
    const p = await ours(ourConf({ endpoint: '192.0.2.2:51900' }));
    const r = ping(NS.ours, GO.v4, ['-c', '5', '-i', '0.2']);
    expect(r.ok).toBe(true);
    expect(r.out).not.toContain('DUP!');
    expect((await p.status()).replayed).toBeGreaterThanOrEqual(5);
  });

  test('a wrong key on either side never completes a handshake', async () => {
    // Our config names a key that is not wireguard-go's.
    await wireguardGo(withKey(goPeer()));
    let p = await ours(ourConf({ peerKey: genkey().pub }));
    expect(ping(NS.ours, GO.v4, ['-c', '3', '-i', '0.3']).ok).toBe(false);
    expect((await p.status()).handshakes).toBe(0);
    expect(latestHandshake()).toBe(0);
    await Promise.all(children.map(stop));
    children.length = 0;
    // wireguard-go expects another key than ours.
    await wireguardGo(withKey(goPeer({ key: genkey().pub })));
    p = await ours(ourConf());
    expect(ping(NS.ours, GO.v4, ['-c', '3', '-i', '0.3']).ok).toBe(false);
    expect((await p.status()).handshakes).toBe(0);
  });
});
