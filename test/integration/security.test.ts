// What a session leaves on disk is for its user alone: every file in the
// state directory is 0600 and the directory 0700, whatever the umask.
// (The control socket's SO_PEERCRED check against another uid, and the
// grep for shells and built commands: test/unit/cli.test.ts and
// test/unit/security.test.ts.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform } from '../../lib';
import { native } from '../../lib/native';
import { describeNetns } from '../helpers/netns';

describeNetns('state files', () => {
  test('during a session, with umask 0: the directory 0700, every file 0600', async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-modes-'));
    const dir = path.join(parent, 'state');
    const umask = process.umask(0);
    try {
      const platform = createPlatform({ stateDir: dir, log: () => {}, dns: false });
      expect(await platform.controlReady).toBe(true);
      const vpn = platform.provider('com.example.modes');
      await vpn.createConfig('c');
      await platform.connect('com.example.modes', 'c');
      const modes = Object.fromEntries(
        fs
          .readdirSync(dir)
          .map((f) => [f, (fs.statSync(path.join(dir, f)).mode & 0o777).toString(8)]),
      );
      expect(modes).toEqual({
        'configs.json': '600',
        'configs.lock': '600',
        'control.sock': '600',
        'session.json': '600',
      });
      expect((fs.statSync(dir).mode & 0o777).toString(8)).toBe('700');
      await platform.close();
    } finally {
      process.umask(umask);
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});
