// The command-line tool against a running platform's control socket.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform } from '../../lib';
import { formatStatus, parseArgs } from '../../lib/cli/main';
import { runCli } from '../helpers/cli';

let dir: string;
let platform: Platform;

const cli = (...argv: string[]) => runCli(dir, ...argv);

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-cli-'));
  platform = createPlatform({ stateDir: dir, log: () => {} });
  expect(await platform.controlReady).toBe(true);
});
afterEach(async () => {
  await platform.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the socket is 0600 and goes with the platform', async () => {
  const sock = path.join(dir, 'control.sock');
  expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
  await platform.close();
  expect(fs.existsSync(sock)).toBe(false);
  platform = createPlatform({ stateDir: dir, log: () => {} });
});

test('create, list, add, configure, forget: each reaches the provider', async () => {
  const vpn = platform.provider('com.example.cli');
  const events: string[] = [];
  vpn.onConfigCreated.addListener((id, name) => events.push(`created ${id} ${name}`));
  vpn.onUIEvent.addListener((e, id) => events.push(`ui ${e} ${id}`));
  vpn.onConfigRemoved.addListener((id) => events.push(`removed ${id}`));

  expect(await cli('create', 'office')).toEqual({ code: 0, out: 'created office\n', err: '' });
  expect((await cli('list')).out).toBe('  office  (com.example.cli)\n');
  const json = await cli('list', '--json');
  expect(JSON.parse(json.out)).toEqual([
    { providerId: 'com.example.cli', id: 'office', name: 'office', active: false },
  ]);
  expect((await cli('add')).code).toBe(0);
  expect((await cli('configure', 'office')).code).toBe(0);
  expect((await cli('forget', 'office')).out).toBe('forgot office\n');
  expect(events).toEqual([
    'created office office',
    'ui showAddDialog ',
    'ui showConfigureDialog office',
    'removed office',
  ]);
  expect(platform.configs()).toEqual([]);
});

test('status when disconnected, in words and in JSON', async () => {
  expect(await cli('status')).toEqual({ code: 0, out: 'state: disconnected\n', err: '' });
  expect(JSON.parse((await cli('status', '--json')).out)).toEqual({ state: 'disconnected' });
});

test('failures: one line and a non-zero status', async () => {
  platform.provider('a');
  platform.provider('b');
  await platform.provider('a').createConfig('x');
  await platform.provider('b').createConfig('x');
  let r = await cli('connect', 'nope');
  expect(r).toMatchObject({ code: 1, out: '' });
  expect(r.err).toBe('vpn-provider: No configuration "nope".\n');
  r = await cli('forget', 'x');
  expect(r.err).toMatch(/several providers \(a, b\): give --provider/);
  expect(r.err.split('\n')).toHaveLength(2);
  r = await cli('add');
  expect(r.code).toBe(1);
  r = await cli('forget', 'x', '--provider', 'b');
  expect(r.code).toBe(0);
  r = await cli('forget', 'nope', '--json');
  expect(r.code).toBe(1);
  expect(JSON.parse(r.err)).toMatchObject({ ok: false, error: { code: expect.any(String) } });
});

test('usage errors exit 2; no platform running exits 1 with the reason', async () => {
  expect((await cli('frobnicate')).code).toBe(2);
  expect((await cli('connect')).err).toMatch(/connect needs a configuration name/);
  expect((await cli('list', '--watch')).code).toBe(2);
  expect(() => parseArgs(['status', '--provider'])).toThrow(/needs a value/);
  await platform.close();
  const r = await cli('list');
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/^vpn-provider: no platform is running with state directory /);
  platform = createPlatform({ stateDir: dir, log: () => {} });
});

test('--help: the usage on stdout and exit 0; a usage error on stderr', async () => {
  const help = await cli('--help');
  expect(help).toMatchObject({ code: 0, err: '' });
  expect(help.out).toMatch(/status \[--watch\]/);
  const bad = await cli('frobnicate');
  expect(bad.out).toBe('');
  expect(bad.err).toMatch(/unknown command frobnicate/);
});

test('status shows the IPv6 address beside the IPv4 one, and ::/0 as such', () => {
  const lines = formatStatus({
    state: 'connected',
    providerId: 'p',
    configId: 'c',
    interfaceName: 'vpn0',
    address: '10.0.0.2/24',
    ipv6Address: '2001:db8::2/64',
    mtu: 1420,
    dnsServers: [],
    inclusions: ['0.0.0.0/0', '::/0'],
    exclusions: [],
    rates: null,
  });
  expect(lines).toContain('address: 10.0.0.2/24 2001:db8::2/64  mtu: 1420  dns: -');
  expect(lines).toContain('routes in: 0.0.0.0/0 ::/0');
  expect(lines.join('\n')).not.toMatch(/blocked/);
  expect(
    formatStatus({ state: 'connected', address: '10.0.0.2/24', blockOutside: true }),
  ).toContain('outside the tunnel: blocked (blockOutside)');
});

test('status --watch --json into a reader that goes away ends quietly', async () => {
  // The tool as a user runs it, its output into `head -1`. Spawned without
  // blocking: the platform that answers the socket lives in this process.
  const bin = path.join(__dirname, '..', '..', 'bin', 'vpn-provider.js');
  const child = spawn(
    'sh',
    [
      '-c',
      `"$0" "$1" status --watch --json --state-dir "$2" | head -1`,
      process.execPath,
      bin,
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(JSON.parse(stdout)).toMatchObject({ state: 'disconnected' });
  expect(stderr).toBe('');
  expect(code).toBe(0);
}, 15000);

const root = process.getuid?.() === 0;
const strict = process.env.VPN_PROVIDER_REQUIRE_PRIVILEGED === '1';
const haveSetpriv = spawnSync('sh', ['-c', 'command -v setpriv']).status === 0;
const uidTest = root && haveSetpriv ? test : strict ? test : test.skip;

uidTest(
  `a peer with another uid is refused by the socket${root && haveSetpriv ? '' : ' [skipped: needs root and setpriv]'}`,
  async () => {
    expect(root && haveSetpriv).toBe(true);
    // Open the directory and the socket to everyone: only SO_PEERCRED stands.
    fs.chmodSync(dir, 0o711);
    fs.chmodSync(path.join(dir, 'control.sock'), 0o666);
    const client = `
      const s = require('net').connect(process.argv[1]);
      s.on('data', (d) => { process.stdout.write(d); s.end(); });
      s.on('connect', () => s.write(JSON.stringify({ cmd: 'list' }) + '\\n'));`;
    const r = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const c = spawn('setpriv', [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        process.execPath,
        '-e',
        client,
        path.join(dir, 'control.sock'),
      ]);
      let stdout = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d));
      c.on('exit', (status) => resolve({ status, stdout }));
    });
    expect(JSON.parse(r.stdout)).toEqual({
      ok: false,
      error: {
        message: 'Refused: the control socket answers only its own user.',
        code: 'ERR_PEER_REFUSED',
      },
    });
  },
);

test('the unit project cannot touch the network: connect is refused before any device exists', async () => {
  await platform.provider('p').createConfig('c');
  const r = await cli('connect', 'c');
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/unit tests may not call native.openTun/);
});

test('NODE_DEBUG=vpn-provider traces the control plane, and nothing without it', () => {
  const script = `
    const net = require('node:net');
    const { createPlatform } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist'))});
    const p = createPlatform({ stateDir: process.argv[1], log: () => {} });
    p.controlReady.then(() => {
      const c = net.connect(require('node:path').join(process.argv[1], 'control.sock'));
      c.on('data', (d) => { process.stdout.write(String(d)); c.end(); p.close(); });
      c.write(JSON.stringify({ cmd: 'status' }) + '\\n');
    });`;
  // A state directory of its own: this file's platform serves `dir`, and
  // would not answer while spawnSync blocks this process.
  const own = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-debug-'));
  const run = (debug: string | undefined) =>
    spawnSync(process.execPath, ['-e', script, own], {
      encoding: 'utf8',
      env: { ...process.env, NODE_DEBUG: debug },
      timeout: 10000,
    });
  let traced, quiet;
  try {
    traced = run('vpn-provider');
    quiet = run(undefined);
  } finally {
    fs.rmSync(own, { recursive: true, force: true });
  }
  expect(JSON.parse(traced.stdout)).toEqual({ ok: true, result: { state: 'disconnected' } });
  expect(traced.stderr).toMatch(/^VPN-PROVIDER \d+: recovery: no journal$/m);
  expect(traced.stderr).toMatch(/^VPN-PROVIDER \d+: control: status $/m);
  expect(JSON.parse(quiet.stdout)).toEqual({ ok: true, result: { state: 'disconnected' } });
  expect(quiet.stderr).toBe('');
});
