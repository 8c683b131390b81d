// The soak, short: scripts/soak.js (npm run soak runs it with 10M packets
// each way and 1000 cycles) with 200k packets and 50 cycles, in a namespace
// of its own inside ours. The same checks: packets both ways, RSS growth
// after warm-up under 5 MB (not under ASan), a constant fd count, and after
// the cycles no link, rule, route, fd or listener more than before.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeNetns } from '../helpers/netns';

jest.setTimeout(300000);

const sanitized = /asan/.test(process.env.LD_PRELOAD ?? '');

describeNetns('soak, short', () => {
  test(`${sanitized ? '50k' : '200k'} packets each way, then ${sanitized ? 20 : 50} connect/disconnect cycles${sanitized ? ' (RSS growth not checked under ASan: its quarantine keeps freed memory)' : ''}`, () => {
    const json = path.join(os.tmpdir(), `vpn-soak-${process.pid}.json`);
    const packets = sanitized ? 50_000 : 200_000;
    const cycles = sanitized ? 20 : 50;
    const r = spawnSync(
      process.execPath,
      [
        path.join(__dirname, '../../scripts/soak.js'),
        '--packets',
        String(packets),
        '--cycles',
        String(cycles),
        '--json',
        json,
      ],
      { encoding: 'utf8', timeout: 240000 },
    );
    let report;
    try {
      report = JSON.parse(fs.readFileSync(json, 'utf8'));
    } finally {
      fs.rmSync(json, { force: true });
    }
    console.log(r.stdout);
    expect(report.checks.filter((c: { ok: boolean }) => !c.ok)).toEqual([]);
    expect(r.status).toBe(0);
    expect(report.rx).toBeGreaterThanOrEqual(packets);
    expect(report.tx).toBeGreaterThanOrEqual(packets);
    expect(report.leftovers).toEqual({ links: [], rules: [], routes: [] });
    // While connected the platform holds its signal, beforeExit and exit
    // listeners (exit: the last-chance teardown of a dying process); after, none.
    expect(report.listenersConnected.process).toBe(4);
    expect(report.listeners.after).toEqual(report.listeners.before);
    if (!sanitized) expect(report.rss.maxGrowth).toBeLessThan(5 * 1024 * 1024);
  });
});
