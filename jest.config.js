'use strict';
// Three projects: `unit` needs no privileges; `integration` creates TUN devices
// and must run inside a private network namespace (scripts/test.js starts it
// under `unshare --net`), else its tests skip with the reason in their title;
// `package` makes the prebuild, packs and installs the tarball (slow: builds
// the addon twice).
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true }] },
  // bench:check's reference build (a whole older checkout) lives there.
  modulePathIgnorePatterns: ['<rootDir>/bench/\\.cache/'],
};

module.exports = {
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
      // Makes every native call that would change the network throw.
      setupFiles: ['<rootDir>/test/unit/setup.ts'],
    },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
    {
      ...base,
      displayName: 'package',
      testMatch: ['<rootDir>/test/package/**/*.test.ts'],
    },
  ],
};
