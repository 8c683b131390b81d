// The addon these tests load is built from the sources as they are: a build
// older than a C++ source (a prebuild that node-gyp-build preferred, a
// build/Release from before an edit) would test code that is not there.
// npm test builds build/Release first and points VPN_PROVIDER_ADDON at it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { native } from '../../lib/native';

const root = path.join(__dirname, '..', '..');

/** What goes into the addon: its .cc files, every header beside them, and the build files. */
function addonSources(): string[] {
  const list = JSON.parse(fs.readFileSync(path.join(root, 'native', 'sources.json'), 'utf8')) as {
    core: string[];
    binding: string[];
  };
  const files = new Set([...list.core, ...list.binding, 'native/sources.json', 'binding.gyp']);
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory() && e.name !== 'test' && e.name !== 'fuzz') walk(rel);
      else if (e.isFile() && e.name.endsWith('.h')) files.add(rel);
    }
  };
  walk('native');
  return [...files];
}

/** The vpn-provider .node files this process has loaded (from the process report). */
function loadedAddons(): string[] {
  const report = process.report.getReport() as unknown as { sharedObjects: string[] };
  return report.sharedObjects.filter(
    (f) => /\.node$/.test(f) && /vpn[-_]provider/.test(path.basename(f)),
  );
}

test('the loaded addon is no older than any of its sources', () => {
  expect(typeof native.RouteTable).toBe('function'); // loaded
  const loaded = loadedAddons();
  expect(loaded).toHaveLength(1);
  const builtAt = fs.statSync(loaded[0]).mtimeMs;
  const newer = addonSources()
    .map((f) => ({ f, t: fs.statSync(path.join(root, f)).mtimeMs }))
    .filter(({ t }) => t > builtAt)
    .map(({ f }) => f);
  // Rebuild: node-gyp build (npm test does), or unset VPN_PROVIDER_ADDON.
  expect({ addon: loaded[0], newerSources: newer }).toEqual({ addon: loaded[0], newerSources: [] });
});

// npm test sets VPN_PROVIDER_ADDON to the release build it has just made
// (the sanitize step: to the ASan build): that one, and no other, is loaded.
const override = process.env.VPN_PROVIDER_ADDON;
if (override !== undefined) {
  test(`the addon loaded is the one VPN_PROVIDER_ADDON names (${override})`, () => {
    expect(loadedAddons()).toEqual([fs.realpathSync(path.resolve(override))]);
  });
}
