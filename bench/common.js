'use strict';
// What the bench suites share: options, the median, where results go, and a
// platform with one configuration for trials that go through the surface.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');

/** --name value or --name=value from argv; dflt when absent. */
function option(argv, name, dflt) {
  const i = argv.indexOf(name);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`${name}=`));
  return eq ? eq.slice(name.length + 1) : dflt;
}

function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length & 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Writes { suite, date, machine, ...data } to `file` (default
 * bench/results/<suite>-<date>.json) and says where.
 */
function writeResults(suite, data, file) {
  const date = new Date().toISOString();
  const out = {
    suite,
    date,
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      kernel: os.release(),
      node: process.version,
    },
    ...data,
  };
  const target =
    file ?? path.join(root, 'bench', 'results', `${suite}-${date.replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, JSON.stringify(out, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), target)}`);
}

/**
 * A platform in a temporary state directory (no DNS, no control socket)
 * with provider "bench" and its configuration "c"; close() removes it all.
 */
async function benchPlatform() {
  const { createPlatform } = require(path.join(root, 'dist'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-bench-'));
  const platform = createPlatform({
    stateDir: dir,
    dns: false,
    controlSocket: false,
    log: () => {},
  });
  const vpn = platform.provider('bench');
  await vpn.createConfig('c');
  return {
    platform,
    vpn,
    close: async () => {
      await platform.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { option, median, writeResults, benchPlatform };
