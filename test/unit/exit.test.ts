// An open device with a reader and a pending send never keeps a process alive.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { runChild } from '../helpers/child';

describe('exit with an open device', () => {
  test.each(['natural', 'exit'])('socketpair with a pending send: %s', async (how) => {
    const r = await runChild(['socketpair', how]);
    expect(r.out).toContain('ready');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5000);
  });

  test('a platform whose control socket cannot start does not hold the process', async () => {
    const script = `
      const fs = require('fs'), os = require('os'), path = require('path');
      const { createPlatform } = require(${JSON.stringify(path.join(__dirname, '../../dist'))});
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-exit-'));
      createPlatform({ stateDir: dir, log: () => {} });
      fs.rmSync(dir, { recursive: true, force: true }); // gone while the socket starts
      process.stdout.write('ready\\n');`;
    const start = Date.now();
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
    expect(r.stdout).toContain('ready');
    expect(r.status).toBe(0);
    expect(Date.now() - start).toBeLessThan(5000);
  });
});
