// The addon loads lazily, and a failure to load says why and what to do for
// the cause at hand.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { addonLoadError } from '../../lib/native';

const linux = { platform: 'linux', arch: 'x64', execArgv: [] as string[] };
const root = path.join(__dirname, '..', '..');

test.each([
  [
    'no prebuild and no build',
    new Error(
      'No native build was found for platform=linux arch=arm64 runtime=node abi=115 uv=1 libc=glibc node=20.20.2',
    ),
    { ...linux, arch: 'arm64' },
    /no prebuilt addon ships for linux-arm64 and none was built: `npm rebuild vpn-provider`/,
  ],
  [
    'musl',
    new Error(
      'No native build was found for platform=linux arch=x64 runtime=node abi=115 uv=1 libc=musl node=20.20.2',
    ),
    linux,
    /no prebuilt addon ships for linux-x64 with musl/,
  ],
  [
    'an old glibc',
    new Error(
      "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found (required by vpn_provider.node)",
    ),
    linux,
    /older than the addon needs \(GLIBC_2\.34\).*Debian 12/,
  ],
  [
    '--no-addons',
    Object.assign(new Error('Cannot load native addon because loading addons is disabled.'), {
      code: 'ERR_DLOPEN_DISABLED',
    }),
    { ...linux, execArgv: ['--no-addons'] },
    /--no-addons, which forbids every native addon/,
  ],
  [
    'not Linux',
    new Error('whatever'),
    { ...linux, platform: 'darwin', arch: 'arm64' },
    /Linux-only.*darwin-arm64/,
  ],
  [
    'a wrong override',
    new Error("Cannot find module '/x.node'\nRequire stack:\n- a.js"),
    { ...linux, override: '/x.node' },
    /VPN_PROVIDER_ADDON=\/x\.node does not load.*\(Cannot find module '\/x\.node'\)$/,
  ],
])('%s: the message names the cause and the remedy', (_what, err, env, message) => {
  const e = addonLoadError(err, env);
  expect(e.message).toMatch(message);
  expect(e.message).toMatch(/^vpn-provider: could not load its native addon: /);
  expect(e).toMatchObject({ code: 'ERR_ADDON_LOAD', cause: err });
});

test('the command-line tool and the package entry load no native code', () => {
  // With an addon that cannot load, the tool still talks to the socket.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-noaddon-'));
  try {
    const env = { ...process.env, VPN_PROVIDER_ADDON: path.join(dir, 'missing.node') };
    const cli = spawnSync(
      process.execPath,
      [path.join(root, 'bin', 'vpn-provider.js'), 'status', '--state-dir', dir],
      { encoding: 'utf8', env },
    );
    expect(cli.stderr).toBe(`vpn-provider: no platform is running with state directory ${dir}\n`);
    expect(cli.status).toBe(1);
    // Importing the package is free too; the first use loads the addon.
    const pkg = spawnSync(
      process.execPath,
      [
        '-e',
        `const p = require(${JSON.stringify(path.join(root, 'dist'))});
         const n = require(${JSON.stringify(path.join(root, 'dist', 'native'))});
         console.log(n.nativeLoaded());
         try { new p.RouteTable(); } catch (e) { console.log(e.code); }`,
      ],
      { encoding: 'utf8', env },
    );
    expect(pkg.stdout).toBe('false\nERR_ADDON_LOAD\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
