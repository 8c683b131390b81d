// The shipped examples as a tunnel between two network namespaces of the
// test's own (client, server, joined by a veth pair: 192.0.2.0/24 and
// 2001:db8:f::/64): examples/server.js with a TUN device and a UdpSocket,
// examples/client.js on the vpnProvider surface and a UdpSocket. A TCP
// stream and a run of UDP datagrams cross it byte-exact (sha256 at a sink
// behind the server's tunnel device), inside over IPv4 and IPv6, the
// tunnel's datagrams over IPv4 and IPv6, with TUN offloads on and off; and
// no IP fragment is made or reassembled on either side.
import { type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ip, tool } from '../helpers/ip';
import { describeNetns } from '../helpers/netns';
import { joinByVeth, startInNetns, type NsProcess } from '../helpers/netns-pair';

jest.setTimeout(60000);

const root = path.join(__dirname, '../..');
const tag = String(process.pid);
const NS = { client: `tunt-c-${tag}`, server: `tunt-s-${tag}` };
const children: ChildProcess[] = [];

/** A node script in a namespace; its lines as they come (JSON, or "ready"). */
function run(ns: string, args: string[], env: NodeJS.ProcessEnv = {}): NsProcess {
  const p = startInNetns(ns, [process.execPath, ...args], env);
  children.push(p.child);
  return p;
}

function fragments(ns: string): number {
  const snmp = ip('netns', 'exec', ns, 'cat', '/proc/net/snmp').split('\n');
  const head = snmp.find((l) => l.startsWith('Ip: Forwarding'))!.split(/\s+/);
  const vals = snmp.filter((l) => l.startsWith('Ip: '))[1].split(/\s+/);
  const six = Object.fromEntries(
    ip('netns', 'exec', ns, 'cat', '/proc/net/snmp6')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s+/)),
  );
  const v4 = (k: string) => Number(vals[head.indexOf(k)]);
  return (
    v4('FragCreates') +
    v4('ReasmReqds') +
    Number(six.Ip6FragCreates ?? 0) +
    Number(six.Ip6ReasmReqds ?? 0)
  );
}

// A deterministic stream: 24 MB of TCP, datagrams of every size that fits.
const SENDER = `
const net = require('node:net'), dgram = require('node:dgram');
const [mode, host, port] = process.argv.slice(1);
const chunk = (i, n) => { const b = Buffer.alloc(n); for (let k = 0; k < n; k++) b[k] = (i * 31 + k * 7) & 255; return b; };
if (mode === 'tcp') {
  const s = net.connect(Number(port), host, async () => {
    for (let i = 0; i < 384; i++) if (!s.write(chunk(i, 65536))) await new Promise((r) => s.once('drain', r));
    s.end();
  });
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
} else {
  const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let i = 0;
  // Paced (16 at a time, 2 ms apart): the sink's default socket buffer
  // must not overflow (Node's dgram cannot raise it past rmem_max).
  const next = () => { if (i === 400) return s.close(); const n = 1 + ((i * 37) % 1372); s.send(chunk(i++, n), Number(port), host, () => (i % 16 ? setImmediate(next) : setTimeout(next, 2))); };
  next();
}
`;

const expectedTcp = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < 384; i++) {
    const b = Buffer.alloc(65536);
    for (let k = 0; k < 65536; k++) b[k] = (i * 31 + k * 7) & 255;
    h.update(b);
  }
  return h.digest('hex');
})();
const expectedUdp = (() => {
  const h = createHash('sha256');
  const lengths: number[] = [];
  for (let i = 0; i < 400; i++) {
    const n = 1 + ((i * 37) % 1372);
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; k++) b[k] = (i * 31 + k * 7) & 255;
    h.update(b);
    lengths.push(n);
  }
  return { sha256: h.digest('hex'), lengths };
})();

describeNetns('the examples as a tunnel', () => {
  let stateDir = '';

  beforeAll(() => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-provider-tunnel-'));
    ip('netns', 'add', NS.client);
    ip('netns', 'add', NS.server);
    joinByVeth(NS.client, NS.server, '192.0.2.1/24', '192.0.2.2/24');
    ip('-n', NS.client, 'addr', 'add', '2001:db8:f::1/64', 'dev', 'wan0', 'nodad');
    ip('-n', NS.server, 'addr', 'add', '2001:db8:f::2/64', 'dev', 'wan0', 'nodad');
  });

  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const ns of Object.values(NS)) ip('netns', 'del', ns);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  const cases = [
    ['IPv4', '192.0.2.2', '1'],
    ['IPv6', '2001:db8:f::2', '1'],
    ['IPv4', '192.0.2.2', '0'],
  ] as const;

  test.each(cases)(
    'datagrams over %s (%s), TUN offloads %s: TCP and UDP arrive byte-exact, no fragments',
    async (_family, serverAddress, offload) => {
      const env = { OFFLOAD: offload, STATE_DIR: stateDir, SERVER_ADDRESS: serverAddress };
      const mine = children.length; // what this case starts, it stops
      const frag0 = fragments(NS.client) + fragments(NS.server);
      const server = run(NS.server, [path.join(root, 'examples/server.js')], env);
      await server.next((l) => l.includes('"ready"'));
      const client = run(NS.client, [path.join(root, 'examples/client.js')], env);
      await client.next((l) => l.includes('"up"'));
      try {
        for (const inner of ['198.18.0.1', '2001:db8:18::1']) {
          const tcp = run(NS.server, [path.join(root, 'test/fixtures/sink.js'), 'tcp', '5201']);
          await tcp.next((l) => l === 'ready');
          const udp = run(NS.server, [
            path.join(root, 'test/fixtures/sink.js'),
            'udp',
            '5202',
            '400',
          ]);
          await udp.next((l) => l === 'ready');
          run(NS.client, ['-e', SENDER, 'tcp', inner, '5201']);
          const t = JSON.parse(await tcp.next((l) => l.startsWith('{'), 40000)) as {
            bytes: number;
            sha256: string;
          };
          expect(t.bytes).toBe(384 * 65536);
          expect(t.sha256).toBe(expectedTcp);
          run(NS.client, ['-e', SENDER, 'udp', inner, '5202']);
          const u = JSON.parse(await udp.next((l) => l.startsWith('{'), 40000)) as {
            lengths: number[];
            sha256: string;
          };
          expect(u.lengths).toEqual(expectedUdp.lengths);
          expect(u.sha256).toBe(expectedUdp.sha256);
        }
        expect(fragments(NS.client) + fragments(NS.server) - frag0).toBe(0);
      } finally {
        // Sinks and senders of a failed case must not hold its ports.
        for (const c of children.slice(mine))
          if (c !== client.child && c !== server.child && c.exitCode === null) c.kill('SIGKILL');
        client.child.kill('SIGTERM');
        server.child.kill('SIGTERM');
        await Promise.all(
          [client.child, server.child].map(
            (c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))),
          ),
        );
      }
      expect(client.stderr()).toBe('');
      expect(server.stderr()).toBe('');
      // The client's session is gone with it: no rule or route of ours.
      expect(tool('ip', '-n', NS.client, 'rule', 'list')).not.toMatch(/lookup 30100/);
    },
  );
});
