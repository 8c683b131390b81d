'use strict';
// The reference build of the performance gate: the commit named in
// bench/baseline.json (`ref`), unpacked with `git archive` into
// bench/.cache/ref-<commit>/, sharing this checkout's node_modules, with its
// addon and dist built there once. bench:check runs the reference's own
// suites beside ours in the same run, so the gate compares two builds on one
// machine within minutes instead of today's machine with the one the
// baseline was recorded on (a baseline recorded on an AMD EPYC host read 2.9x
// for batched sends where the same commit measures 1.6x on the Intel host
// that replaced it).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const cacheDir = path.join(__dirname, '.cache');

function run(file, args, opts) {
  const r = spawnSync(file, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(
      `${path.basename(file)} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${out}`,
    );
  }
  return r.stdout;
}

/** The full commit id of `ref` in this checkout, or null without git or the commit. */
function resolve(ref) {
  const r = spawnSync('git', ['-C', root, 'rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * node-gyp's --nodedir as this checkout's own build used it (npm passes it
 * in the environment; run without npm, the build's config.gypi has it), so
 * the reference builds against the same headers, offline.
 */
function nodedir() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  try {
    const m = /"nodedir":\s*"([^"]+)"/.exec(
      fs.readFileSync(path.join(root, 'build', 'config.gypi'), 'utf8'),
    );
    return m ? [`--nodedir=${m[1]}`] : [];
  } catch {
    return [];
  }
}

/**
 * The directory of the reference build of `commit`, built if not yet
 * (`log` gets a line per step). Throws with the failing step's output.
 */
function prepare(commit, log = () => {}) {
  const dir = path.join(cacheDir, `ref-${commit.slice(0, 12)}`);
  const ready = path.join(dir, '.ready');
  if (fs.existsSync(ready)) return shareBaselines(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  log(`reference ${commit.slice(0, 12)}: unpacking`);
  const tar = path.join(cacheDir, `ref-${commit.slice(0, 12)}.tar`);
  run('git', ['-C', root, 'archive', '--format=tar', '-o', tar, commit]);
  run('tar', ['-xf', tar, '-C', dir]);
  fs.rmSync(tar);
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  log(`reference ${commit.slice(0, 12)}: building the addon`);
  const env = { ...process.env };
  delete env.VPN_PROVIDER_ADDON;
  run(
    process.execPath,
    [require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }), 'rebuild', ...nodedir()],
    {
      cwd: dir,
      env,
    },
  );
  log(`reference ${commit.slice(0, 12)}: compiling TypeScript`);
  run(
    process.execPath,
    [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', 'tsconfig.build.json'],
    {
      cwd: dir,
      env,
    },
  );
  fs.writeFileSync(ready, `${new Date().toISOString()}\n`);
  return shareBaselines(dir);
}

/**
 * The C baselines (bench/bin: the tunnel's C relay, the offload loops) are
 * built by this checkout's bench scripts; the reference's demo looks for
 * them in its own bench/bin, so that is a link to ours: both builds are
 * measured against the same baseline binaries.
 */
function shareBaselines(dir) {
  const ours = path.join(root, 'bench', 'bin');
  const theirs = path.join(dir, 'bench', 'bin');
  fs.mkdirSync(ours, { recursive: true });
  let linked = false;
  try {
    linked = fs.readlinkSync(theirs) === ours;
  } catch {
    // absent, or a folder of its own
  }
  if (!linked) {
    fs.rmSync(theirs, { recursive: true, force: true });
    fs.symlinkSync(ours, theirs, 'dir');
  }
  return dir;
}

/**
 * Runs suites on the reference build: these bench scripts and C baselines,
 * its dist and addon (VPN_BENCH_PACKAGE, VPN_PROVIDER_ADDON), so both sides
 * are measured by the same code. Same result shape as harness.runSuites.
 */
async function runRefSuites(dir, names, profile, opts) {
  const saved = {
    VPN_PROVIDER_ADDON: process.env.VPN_PROVIDER_ADDON,
    VPN_BENCH_PACKAGE: process.env.VPN_BENCH_PACKAGE,
  };
  process.env.VPN_PROVIDER_ADDON = path.join(dir, 'build', 'Release', 'vpn_provider.node');
  process.env.VPN_BENCH_PACKAGE = dir;
  try {
    return await require('./harness').runSuites(names, profile, opts);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

module.exports = { resolve, prepare, runRefSuites, cacheDir };
