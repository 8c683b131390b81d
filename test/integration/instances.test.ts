// Two platforms with different state directories in one namespace: each
// takes a routing table and rule priority no rule in the kernel uses, and
// one ending never touches the other's routing. (A second instance used to
// take the same table 30100 and, ending, delete the first one's rule.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform, type Platform } from '../../lib';
import { Journal } from '../../lib/platform/journal';
import { native } from '../../lib/native';
import { ip } from '../helpers/ip';
import { kernelState } from '../helpers/leftovers';
import { describeNetns } from '../helpers/netns';

const via = (dest: string) =>
  (JSON.parse(ip('-j', 'route', 'get', dest)) as { dev?: string; type?: string }[])[0];

describeNetns('two instances side by side', () => {
  const dirs: string[] = [];
  const platforms: Platform[] = [];
  const start = async (extra: object = {}) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-two-'));
    dirs.push(dir);
    const p = createPlatform({
      stateDir: dir,
      dns: false,
      controlSocket: false,
      log: () => {},
      ...extra,
    });
    platforms.push(p);
    await p.provider('p').createConfig('c');
    return { p, dir };
  };

  beforeAll(async () => {
    await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  });
  afterAll(async () => {
    for (const p of platforms) await p.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('each takes its own table; one disconnecting leaves the other whole; a taken table named explicitly is refused', async () => {
    const a = await start();
    const b = await start();
    await a.p.connect('p', 'c');
    await a.p.provider('p').setParameters({
      address: '10.70.0.2/24',
      exclusionList: ['198.18.10.128/25'],
      inclusionList: ['198.18.10.0/24'],
      dnsServers: [],
    });
    await b.p.connect('p', 'c');
    await b.p.provider('p').setParameters({
      address: '10.71.0.2/24',
      exclusionList: [],
      inclusionList: ['198.18.20.0/24'],
      dnsServers: [],
    });
    const tableA = new Journal(a.dir).read()!.table;
    const tableB = new Journal(b.dir).read()!.table;
    expect(tableA).not.toBe(tableB);
    const before = kernelState(tableA);
    expect(before.rules).toHaveLength(2); // the protected sockets' goto and the lookup
    expect(before.routes.length).toBeGreaterThanOrEqual(2);
    expect(kernelState(tableB).rules).toHaveLength(2);
    expect(via('198.18.10.1').dev).toBe(a.p.session!.interfaceName);
    expect(via('198.18.20.1').dev).toBe(b.p.session!.interfaceName);

    const stateA = a.p.session!.state;
    await b.p.disconnect();
    expect(kernelState(tableB)).toMatchObject({ rules: [], routes: [] });
    const after = kernelState(tableA);
    expect({ rules: after.rules, routes: after.routes }).toEqual({
      rules: before.rules,
      routes: before.routes,
    });
    expect(via('198.18.10.1').dev).toBe(a.p.session!.interfaceName);
    expect(a.p.session?.state).toBe(stateA);

    // A third one told to use A's table: refused, A untouched.
    const c = await start({ routing: { table: tableA, priority: 31999 } });
    await expect(c.p.connect('p', 'c')).rejects.toMatchObject({
      code: 'ERR_ROUTING_TABLE_IN_USE',
      message: expect.stringContaining(`Routing table ${tableA}`),
    });
    expect(c.p.session).toBeNull();
    expect(kernelState(tableA).rules).toEqual(before.rules);
    expect(via('198.18.10.1').dev).toBe(a.p.session!.interfaceName);
  });
});
