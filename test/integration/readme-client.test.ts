// The README's 20-line client, taken from README.md as it stands, against
// examples/server.js: two network namespaces of the test's own joined by a
// veth pair (the README's addresses), ping through the tunnel, and nothing
// of the session left after SIGTERM. The only change made to the code: its
// state directory, a temporary one.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ip, plainEnv } from '../helpers/ip';
import { joinByVeth } from '../helpers/netns-pair';
import { describeNetns } from '../helpers/netns';

jest.setTimeout(60000);

const root = path.join(__dirname, '../..');
const tag = String(process.pid);
const NS = { client: `rdme-c-${tag}`, server: `rdme-s-${tag}` };

/** The first ```js block of the README's vpnProvider section. */
function readmeClient(): string {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## vpnProvider'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('no client code in the README');
  return m[1];
}

async function until(what: string, check: () => boolean, ms = 20000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeNetns("the README's client", () => {
  const children: ChildProcess[] = [];
  let dir = '';
  const netnsEtc = `/etc/netns/${NS.client}`;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-provider-readme-'));
    // require('vpn-provider') from a folder outside the package.
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'vpn-provider'));
    ip('netns', 'add', NS.client);
    ip('netns', 'add', NS.server);
    // The client's own resolv.conf (ip netns exec binds it over
    // /etc/resolv.conf): its DNS settings land there.
    fs.mkdirSync(netnsEtc, { recursive: true });
    fs.writeFileSync(path.join(netnsEtc, 'resolv.conf'), 'nameserver 203.0.113.53\n');
    joinByVeth(NS.client, NS.server, '192.0.2.1/24', '192.0.2.2/24');
  });

  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const ns of Object.values(NS)) ip('netns', 'del', ns);
    fs.rmSync(netnsEtc, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('works with examples/server.js as it stands: ping through the tunnel, DNS set, nothing left after', async () => {
    const state = path.join(dir, 'state');
    const code = readmeClient().replace("'/var/lib/myvpn'", JSON.stringify(state));
    expect(code).toContain(JSON.stringify(state));
    const file = path.join(dir, 'client.js');
    fs.writeFileSync(file, code);

    const server = spawn(
      'ip',
      ['netns', 'exec', NS.server, process.execPath, path.join(root, 'examples/server.js')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(server);
    let serverOut = '';
    server.stdout!.on('data', (d) => (serverOut += d));
    server.stderr!.on('data', (d) => (serverOut += d));
    await until('the server', () => serverOut.includes('"ready"'));

    const client = spawn('ip', ['netns', 'exec', NS.client, process.execPath, file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(client);
    let clientOut = '';
    client.stdout!.on('data', (d) => (clientOut += d));
    client.stderr!.on('data', (d) => (clientOut += d));
    // Connected and configured: the default route goes through the tunnel.
    const table = () =>
      spawnSync('ip', ['-n', NS.client, 'route', 'show', 'table', '30100'], {
        encoding: 'utf8',
        env: plainEnv(),
      }).stdout;
    await until('the tunnel', () => /^default dev vpn\d+/m.test(table()));
    const ping = spawnSync(
      'ip',
      ['netns', 'exec', NS.client, 'ping', '-c', '3', '-W', '2', '198.18.0.1'],
      {
        encoding: 'utf8',
      },
    );
    expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
    expect(fs.readFileSync(path.join(netnsEtc, 'resolv.conf'), 'utf8')).toMatch(
      /^nameserver 198\.18\.0\.1$/m,
    );

    client.kill('SIGTERM');
    await new Promise((r) => (client.exitCode !== null ? r(null) : client.once('exit', r)));
    expect(clientOut).toBe('');
    expect(ip('-n', NS.client, 'rule', 'list')).not.toMatch(/lookup 30100/);
    expect(table()).toBe('');
    expect(fs.readFileSync(path.join(netnsEtc, 'resolv.conf'), 'utf8')).toBe(
      'nameserver 203.0.113.53\n',
    );
    server.kill('SIGTERM');
  });
});
