// `npm ci` takes the committed lock file: it records every optional
// platform package npm resolves (npm install on one machine used to leave
// the others' out, and npm ci then refused the lock as out of sync).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');

test('npm ci accepts package-lock.json as it is committed', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-provider-lock-'));
  try {
    for (const f of ['package.json', 'package-lock.json'])
      fs.copyFileSync(path.join(root, f), path.join(dir, f));
    // --dry-run: checks that the two agree, installs nothing.
    const r = spawnSync('npm', ['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120000,
    });
    expect(r.stderr).not.toMatch(/npm error/);
    expect(r.status).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
