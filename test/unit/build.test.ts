// The two builds of the addon, binding.gyp (npm install, prebuilds) and
// CMakeLists.txt (C++ tests, sanitizers, fuzzers), compile the same sources
// with the same N-API version and exception policy: both read
// native/sources.json, and this test fails if they drift from it or from
// the tree.
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
const read = (f: string) => fs.readFileSync(path.join(root, f), 'utf8');
const sources = JSON.parse(read('native/sources.json')) as {
  napi_version: number;
  core: string[];
  binding: string[];
};
const listed = [...sources.core, ...sources.binding];

function ccFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const p = path.posix.join(dir, e.name);
    if (e.isDirectory()) out.push(...ccFiles(p));
    else if (e.name.endsWith('.cc')) out.push(p);
  }
  return out;
}

test('native/sources.json lists every source of the addon once, and only those', () => {
  // Tests and fuzz targets are CMake's alone (globbed there).
  const tree = ccFiles('native').filter((f) => !/^native\/(test|fuzz)\//.test(f));
  expect([...listed].sort()).toEqual(tree.sort());
  expect(new Set(listed).size).toBe(listed.length);
});

test('the core is free of N-API; the glue is all in native/binding', () => {
  for (const f of sources.core) {
    expect(f).not.toMatch(/^native\/binding\//);
    expect(read(f)).not.toMatch(/#include\s*[<"](napi\.h|node_api\.h|binding\/)/);
  }
  for (const f of sources.binding) expect(f).toMatch(/^native\/binding\//);
});

test('binding.gyp and CMakeLists.txt both build from the list, with the same N-API version and exceptions', () => {
  const gyp = read('binding.gyp');
  expect(gyp).toContain(`require(\\'./native/sources.js\\').all`);
  expect(gyp).toContain(`require(\\'./native/sources.js\\').napiVersion`);
  expect(gyp).toContain('node_addon_api_except'); // C++ exceptions on
  expect(gyp).toMatch(/-std=c\+\+17/);
  const cmake = read('CMakeLists.txt');
  expect(cmake).toMatch(/file\(READ "\$\{CMAKE_SOURCE_DIR\}\/native\/sources\.json"/);
  expect(cmake).toMatch(/add_library\(vpn_core STATIC \$\{VPN_CORE_SOURCES\}\)/);
  expect(cmake).toMatch(/add_library\(vpn_provider SHARED \$\{VPN_BINDING_SOURCES\}/);
  expect(cmake).toMatch(/NAPI_VERSION=\$\{VPN_NAPI_VERSION\} NAPI_CPP_EXCEPTIONS/);
  expect(cmake).toMatch(/CMAKE_CXX_STANDARD 17/);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const js = require(path.join(root, 'native', 'sources.js')) as {
    all: string[];
    napiVersion: number;
  };
  expect(js.all).toEqual(listed);
  expect(js.napiVersion).toBe(sources.napi_version);
});

test('the node-gyp build in build/ compiled exactly the listed sources', () => {
  // npm install (or npm test's build step) generates this Makefile from binding.gyp.
  const mk = read('build/vpn_provider.target.mk');
  const objs = [...mk.matchAll(/\$\(obj\)\.target\/\$\(TARGET\)\/(\S+)\.o/g)].map(
    (m) => `${m[1]}.cc`,
  );
  expect([...new Set(objs)].sort()).toEqual([...listed].sort());
  expect(mk).toContain(`-DNAPI_VERSION=${sources.napi_version}`);
});
