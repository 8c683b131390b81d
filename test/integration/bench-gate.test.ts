// The performance gate catches a real slowdown: the real packet suite run
// twice in one go, once as it ships and once with TUN offloads switched off
// (BENCH_OFFLOAD=0: every packet its own write, the feature the batched
// send path sells), compared by bench/check.js exactly as CI compares this
// build with its reference. The slowed batch sends must fail the gate; the
// per-packet sends, which offloads do not touch, must pass it, so the gate
// is not simply failing everything on a noisy machine.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeNetns } from '../helpers/netns';

jest.setTimeout(240000);

const root = path.join(__dirname, '..', '..');

type Metric = { id: string; cpuRatio?: number; ratio?: number };

// A speed test of the release build: in the sanitized pass of npm test too
// (the ASan build's speed says nothing, and its preload would instrument
// the C baseline and the compiler as well).
function releaseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (/asan/.test(env.LD_PRELOAD ?? '')) {
    delete env.LD_PRELOAD;
    env.VPN_PROVIDER_ADDON = path.join(root, 'build', 'Release', 'vpn_provider.node');
  }
  return env;
}

function packetSuite(env: NodeJS.ProcessEnv, json: string): Metric[] {
  const r = spawnSync(
    process.execPath,
    [
      path.join(root, 'bench', 'packet', 'run.js'),
      '--quick',
      '--reps',
      '3',
      '--no-peer',
      '--impls',
      'vpn-batch,vpn-single',
      '--json',
      json,
    ],
    { env: { ...releaseEnv(), ...env }, encoding: 'utf8', timeout: 200000 },
  );
  if (r.status !== 0) throw new Error(`bench/packet/run.js failed: ${r.stderr}`);
  return JSON.parse(fs.readFileSync(json, 'utf8')).metrics as Metric[];
}

describeNetns('bench:check', () => {
  test('fails a build whose batched sends lost their offloads, passes what did not change', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-gate-'));
    try {
      const shipped = packetSuite({ BENCH_OFFLOAD: '1' }, path.join(dir, 'ref.json'));
      const slowed = packetSuite({ BENCH_OFFLOAD: '0' }, path.join(dir, 'ours.json'));
      const run = path.join(dir, 'check-ab.json');
      fs.writeFileSync(
        run,
        JSON.stringify({
          date: new Date().toISOString(),
          ref: 'shipped-build',
          metrics: slowed,
          refMetrics: shipped,
          failed: [],
        }),
      );
      const r = spawnSync(
        process.execPath,
        [path.join(root, 'bench', 'check.js'), '--only', 'packet', '--from', run],
        { encoding: 'utf8' },
      );
      const verdict = (id: string) =>
        new RegExp(`^\\| ${id} \\|.*\\| (\\S+(?: \\S+)?) \\|$`, 'm').exec(r.stdout)?.[1];
      expect(r.stdout).toMatch(/bench:check: FAILED/);
      expect(r.status).toBe(1);
      expect(verdict('packet send 64B vpn-batch')).toBe('REGRESSION');
      expect(verdict('packet send 1400B vpn-batch')).toBe('REGRESSION');
      expect(verdict('packet send 64B vpn-single')).toBe('ok');
      expect(verdict('packet send 1400B vpn-single')).toBe('ok');
      // The rows are the gate's own: this build's ratio against the
      // reference's from the same run.
      expect(r.stdout).toMatch(/against the reference shipped-buil/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
