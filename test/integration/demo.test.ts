// `npm run demo` end to end (a 1-second transfer): the examples keep working.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ip } from '../helpers/ip';
import { describeNetns } from '../helpers/netns';

jest.setTimeout(60000);

describeNetns('the demo tunnel', () => {
  test('client and server carry an echo and a TCP transfer, then everything is gone', () => {
    const r = spawnSync(process.execPath, [path.join(__dirname, '../../scripts/demo.js')], {
      env: { ...process.env, DEMO_SECONDS: '1' },
      encoding: 'utf8',
      timeout: 50000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/client: tunnel up on vpn\d+ 198\.18\.0\.2\/24/);
    const gbit = Number(/throughput +([\d.]+) Gbit\/s/.exec(r.stdout)?.[1]);
    expect(gbit).toBeGreaterThan(0.001);
    // Wire-size datagrams only: nothing fragmented on either side.
    expect(r.stdout).toMatch(/IP fragments +0 /);
    // Its own namespaces (named after its pid) are gone; a demo or a
    // benchmark running beside this suite may have others.
    const netns = ip('netns', 'list');
    expect(r.pid).toBeGreaterThan(0);
    expect(netns).not.toMatch(new RegExp(`vpndemo-[cs]-${r.pid}\\b`));
  });
});
