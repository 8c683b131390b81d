// The benchmark harness's arithmetic and the performance gate: ratios to a
// same-run baseline, the check against a committed baseline (a regression
// beyond tolerance fails, exit 1), baselines made from several runs, the
// chart. The suites themselves need root and minutes; these run on
// synthetic trials through the same code.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { metrics } = require('../../bench/common');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const check = require('../../bench/check');
const { compare, tolerance, makeBaseline, readmeTable, withReadmeTable } = check;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chart } = require('../../bench/chart');

const root = path.join(__dirname, '..', '..');
const checkJs = path.join(root, 'bench', 'check.js');

type Trial = {
  group: string;
  impl: string;
  rep: number;
  value: number;
  cost?: number;
  params?: object;
};

/** Packet-like trials: per repetition, a C loop and ours at `factor` of it. */
function packetTrials(factor: number, cSpeeds = [1000, 800, 1200, 900, 1100]): Trial[] {
  const out: Trial[] = [];
  cSpeeds.forEach((c, rep) => {
    out.push({ group: 'recv 64B', impl: 'c-read', rep, value: c, params: { batch: null } });
    out.push({
      group: 'recv 64B',
      impl: 'vpn-batch',
      rep,
      value: c * factor,
      params: { batch: 256 },
    });
    for (const b of [1, 16]) {
      out.push({
        group: 'recv 64B',
        impl: `vpn-batch:${b}`,
        rep,
        value: c * factor * (b === 1 ? 0.5 : 0.8),
        params: { batch: b },
      });
    }
  });
  return out;
}

const packetMetrics = (factor: number, cSpeeds?: number[]) =>
  metrics('packet', packetTrials(factor, cSpeeds), {
    unit: 'packets/s',
    higherIsBetter: true,
    baselineOf: () => 'c-read',
  });

function run(factor: number, date = '2026-01-01T00:00:00.000Z') {
  return {
    date,
    machine: { cpus: 2, model: 'test', kernel: 'k', node: 'v20' },
    command: 'test',
    failed: [],
    metrics: packetMetrics(factor),
  };
}

describe('metrics: ratios to a baseline of the same run', () => {
  test('pairs each trial with the baseline of its repetition, so a machine-wide slowdown cancels', () => {
    // The C loop's speed moves by ±20% between repetitions; ours is always 0.9 of it.
    const m = packetMetrics(0.9).find((x: { impl: string }) => x.impl === 'vpn-batch');
    expect(m.ratio).toBeCloseTo(0.9, 10);
    expect(m.samples).toHaveLength(5);
    expect(m.value).toBeCloseTo(900, 10); // the median of 800..1200 × 0.9
    expect(m.role).toBe('ours');
    expect(m.id).toBe('packet recv 64B vpn-batch');
  });

  test('lower-is-better units give ratios > 1 for faster than the baseline', () => {
    const ms = metrics(
      'platform',
      [0, 1, 2].flatMap((rep) => [
        { group: 'connect', impl: 'ip-batch', rep, value: 10 + rep },
        { group: 'connect', impl: 'ours', rep, value: (10 + rep) / 4 },
      ]),
      { unit: 'ms', higherIsBetter: false, baselineOf: () => 'ip-batch' },
    );
    expect(ms.find((x: { impl: string }) => x.impl === 'ours').ratio).toBeCloseTo(4, 10);
  });

  test('a failed trial counts as failed, not as zero', () => {
    const trials = packetTrials(1);
    trials.push({ group: 'recv 64B', impl: 'vpn-batch', rep: 5, value: NaN });
    const m = metrics('packet', trials, {
      unit: 'packets/s',
      higherIsBetter: true,
      baselineOf: () => 'c-read',
    }).find((x: { impl: string }) => x.impl === 'vpn-batch');
    expect(m.failed).toBe(1);
    expect(m.ratio).toBeCloseTo(1, 10);
  });
});

describe('the check against a baseline', () => {
  const baseline = {
    made: { date: 'then' },
    metrics: { 'packet recv 64B vpn-batch': { ratio: 0.9, tolerance: 0.2 } },
  };

  test('within tolerance passes, beyond it fails, and a missing metric fails', () => {
    const at = (f: number) => compare(baseline, run(f).metrics);
    expect(at(0.9).pass).toBe(true);
    expect(at(0.9).rows[0].verdict).toBe('ok');
    expect(at(0.73).rows[0].verdict).toBe('ok'); // -19%
    expect(at(0.71).rows[0].verdict).toBe('REGRESSION'); // -21%
    expect(at(0.71).pass).toBe(false);
    expect(at(1.2).rows[0].verdict).toBe('better');
    expect(at(1.2).pass).toBe(true);
    const none = compare(baseline, []);
    expect(none.rows[0].verdict).toBe('MISSING');
    expect(none.pass).toBe(false);
    // Listed under tooNoisyToGate: shown, never failing.
    const reported = compare(
      { ...baseline, metrics: {}, tooNoisyToGate: baseline.metrics },
      run(0.5).metrics,
    );
    expect(reported.rows[0].verdict).toBe('not gated');
    expect(reported.pass).toBe(true);
  });

  test('against a reference build of the same run: its ratio is the bar, not the recorded one', () => {
    // Recorded 0.9 on another machine; here the reference reads 0.5.
    const ab = (ours: number, ref: number) =>
      compare(baseline, run(ours).metrics, null, run(ref).metrics);
    expect(ab(0.5, 0.5).rows[0]).toMatchObject({ verdict: 'ok', baseline: 0.5, now: 0.5 });
    expect(ab(0.41, 0.5).rows[0].verdict).toBe('ok'); // -18%
    expect(ab(0.39, 0.5).rows[0].verdict).toBe('REGRESSION'); // -22%, though 0.39 vs 0.9 would be too
    expect(ab(0.75, 1.0).rows[0].verdict).toBe('REGRESSION'); // -25% of the reference, -17% of 0.9
    expect(ab(0.5, 0.5).pass).toBe(true);
    // A metric the reference does not have: shown as new, not failing.
    const fresh = compare(baseline, run(0.5).metrics, null, []);
    expect(fresh.rows[0].verdict).toBe('new');
    expect(fresh.pass).toBe(true);
  });

  test('with a reference, tolerances follow the gaps between the two builds in one run', () => {
    const pair = (ours: number, ref: number) => ({
      ...run(ours),
      ref: 'abc',
      refMetrics: run(ref).metrics,
    });
    // Ratios far apart between runs (0.5 then 1.0: the machine changed), the
    // two builds within 4% in each: a tight tolerance.
    const b = makeBaseline([pair(0.5, 0.52), pair(1.0, 0.98)], { ref: { commit: 'abc' } });
    expect(b.metrics['packet recv 64B vpn-batch']).toMatchObject({ tolerance: 0.15 });
    expect(b.ref).toEqual({ commit: 'abc' });
    // Two builds 30% apart in a run: beyond what the gate can hold, reported only.
    const noisy = makeBaseline([pair(0.5, 0.5), pair(0.7, 1.0)], null);
    expect(noisy.metrics['packet recv 64B vpn-batch']).toBeUndefined();
    expect(noisy.tooNoisyToGate['packet recv 64B vpn-batch'].tolerance).toBeGreaterThan(0.5);
  });

  test('tolerances follow the spread of runs, with a floor', () => {
    expect(tolerance(0)).toBe(0.15);
    expect(tolerance(0.05)).toBe(0.15);
    expect(tolerance(0.1)).toBe(0.25);
    expect(tolerance(0.12)).toBe(0.3);
    const b = makeBaseline([run(0.9), run(1.0), run(0.8)], null);
    const m = b.metrics['packet recv 64B vpn-batch'];
    expect(m.ratio).toBeCloseTo(0.9, 4);
    expect(m.spread).toBeCloseTo(0.1111, 3);
    expect(m.tolerance).toBe(0.3);
    // Only ours are gated: the C loop's ratio to itself is 1 by definition.
    expect(Object.keys(b.metrics).some((id) => id.endsWith('c-read'))).toBe(false);
    // A metric noisier than 50% is reported, not gated.
    const noisy = makeBaseline([run(0.5), run(1.0), run(1.6)], null);
    expect(noisy.metrics['packet recv 64B vpn-batch']).toBeUndefined();
    // ... with its ratio and the spread that kept it out.
    const reported = noisy.tooNoisyToGate['packet recv 64B vpn-batch'];
    expect(reported.ratio).toBeCloseTo(1.0, 4);
    expect(reported.spread).toBeGreaterThan(0.5);
  });

  describe('the command', () => {
    let tmp = '';
    beforeAll(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-check-'));
      for (const [name, f] of [
        ['a', 0.9],
        ['b', 0.95],
        ['c', 0.85],
        ['slow', 0.6],
      ] as const) {
        fs.writeFileSync(path.join(tmp, `${name}.json`), JSON.stringify(run(f)));
      }
    });
    afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

    const check = (...args: string[]) =>
      spawnSync(process.execPath, [checkJs, ...args], { encoding: 'utf8' });
    const file = (n: string) => path.join(tmp, n);

    test('--update makes a baseline from runs; a like run passes, a regressed one exits 1', () => {
      const base = file('baseline.json');
      const u = check(
        '--update',
        '--from',
        ['a', 'b', 'c'].map((n) => file(`${n}.json`)).join(','),
        '--baseline',
        base,
      );
      expect(u.status).toBe(0);
      const b = JSON.parse(fs.readFileSync(base, 'utf8'));
      expect(b.made.runs).toBe(3);
      expect(b.metrics['packet recv 64B vpn-batch'].ratio).toBeCloseTo(0.9, 4);

      const ok = check('--from', file('b.json'), '--baseline', base);
      expect(ok.status).toBe(0);
      expect(ok.stdout).toMatch(
        /\| packet recv 64B vpn-batch \| speed \| c-read \| 0\.90 \| 0\.95 \| \+6% \| ±20% \| ok \|/,
      );
      expect(ok.stdout).toMatch(/bench:check: passed/);

      const bad = check('--from', file('slow.json'), '--baseline', base);
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(
        /\| packet recv 64B vpn-batch \| speed \| c-read \| 0\.90 \| 0\.60 \| -33% \| ±20% \| REGRESSION \|/,
      );
      expect(bad.stdout).toMatch(/bench:check: FAILED/);
    });

    test('--update --only refreshes that suite alone, also from runs that hold others', () => {
      const base = file('only-baseline.json');
      check(
        '--update',
        '--from',
        ['a', 'b', 'c'].map((n) => file(`${n}.json`)).join(','),
        '--baseline',
        base,
      );
      const before = JSON.parse(fs.readFileSync(base, 'utf8'));
      // "offload" metrics: the packet ones under another suite's name.
      const renamed = (f: number) =>
        run(f).metrics.map((m: { id: string }) => ({
          ...m,
          id: m.id.replace(/^packet /, 'offload '),
        }));
      // A full run (both suites) and an --only offload one (no packet metrics).
      fs.writeFileSync(
        file('full.json'),
        JSON.stringify({ ...run(0.8), metrics: [...run(0.8).metrics, ...renamed(0.8)] }),
      );
      fs.writeFileSync(file('part.json'), JSON.stringify({ ...run(0.8), metrics: renamed(0.82) }));
      const u = check(
        '--update',
        '--only',
        'offload',
        '--from',
        `${file('full.json')},${file('part.json')}`,
        '--baseline',
        base,
      );
      expect(u.status).toBe(0);
      const after = JSON.parse(fs.readFileSync(base, 'utf8'));
      const packetIds = (o: Record<string, unknown>) =>
        Object.keys(o).filter((id) => id.startsWith('packet '));
      // The packet entries are kept as they were, and listed once.
      expect(packetIds(after.metrics)).toEqual(packetIds(before.metrics));
      for (const id of packetIds(after.metrics))
        expect(after.metrics[id]).toEqual(before.metrics[id]);
      expect(packetIds(after.tooNoisyToGate)).toEqual(packetIds(before.tooNoisyToGate ?? {}));
      expect(Object.keys(after.metrics).some((id) => id.startsWith('offload '))).toBe(true);
    });

    test('a doctored baseline (twice as fast as we are) fails the run that passed', () => {
      const base = file('doctored.json');
      fs.writeFileSync(
        base,
        JSON.stringify({
          made: { date: 'doctored' },
          metrics: { 'packet recv 64B vpn-batch': { ratio: 1.8, tolerance: 0.3 } },
        }),
      );
      const r = check('--from', file('a.json'), '--baseline', base);
      expect(r.status).toBe(1);
      expect(r.stdout).toMatch(/REGRESSION/);
    });

    test('--update --only refreshes one suite and keeps the others; CPU ratios where measured', () => {
      const base = file('merge.json');
      const from = ['a', 'b', 'c'].map((n) => file(`${n}.json`)).join(',');
      expect(check('--update', '--from', from, '--baseline', base).status).toBe(0);
      const lowerIsBetter = (suite: string, group: string, base: string, ours: string) =>
        metrics(
          suite,
          [0, 1, 2].flatMap((rep) => [
            { group, impl: base, rep, value: 100, cost: 0.09 },
            { group, impl: ours, rep, value: 50, cost: 0.03 },
          ]),
          {
            unit: 'ms',
            higherIsBetter: false,
            baselineOf: () => base,
            roleOf: (i: string) => (i === base ? 'baseline' : 'ours'),
          },
        );
      const other = {
        ...run(1),
        metrics: [
          ...lowerIsBetter('platform', 'apply 100000 routes', 'ip-batch', 'ours-apply'),
          ...lowerIsBetter('route', 'syn paired', 'arkime-iptrie', 'lookup(number)'),
        ],
      };
      fs.writeFileSync(file('other.json'), JSON.stringify(other));
      const u = check(
        '--update',
        '--only',
        'platform,route',
        '--from',
        file('other.json'),
        '--baseline',
        base,
      );
      expect(u.status).toBe(0);
      const b = JSON.parse(fs.readFileSync(base, 'utf8'));
      expect(b.metrics['packet recv 64B vpn-batch'].ratio).toBeCloseTo(0.9, 4);
      // Gated on CPU (0.09 s of CPU against 0.03), not on speed (100 ms against 50).
      expect(b.metrics['platform apply 100000 routes ours-apply']).toMatchObject({
        on: 'cpuRatio',
        ratio: 3,
      });
      // One run: the route metric takes the default tolerance (no spread yet).
      expect(b.metrics['route syn paired lookup(number)']).toMatchObject({ tolerance: 0.25 });
      expect(b.made.updated.platform.runs).toBe(1);
    });

    test('a missing baseline and a bad option are usage errors', () => {
      expect(check('--from', file('a.json'), '--baseline', file('none.json')).status).toBe(2);
      expect(check('--only', 'nosuchsuite').status).toBe(2);
    });
  });

  test('the committed baseline gates only metrics the check run reports, each with a tolerance', () => {
    const b = JSON.parse(fs.readFileSync(path.join(root, 'bench', 'baseline.json'), 'utf8'));
    const ids = Object.keys(b.metrics);
    expect(ids.length).toBeGreaterThan(5);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SUITES } = require('../../bench/harness');
    const checked = Object.keys(SUITES).filter((s) => SUITES[s].check);
    for (const id of ids) {
      expect(checked).toContain(id.split(' ')[0]);
      expect(b.metrics[id].ratio).toBeGreaterThan(0);
      // Not a suite's own denominator (always 1: a gate that cannot fail).
      expect(b.metrics[id].ratio === 1 && b.metrics[id].spread === 0).toBe(false);
      expect(b.metrics[id].tolerance).toBeGreaterThanOrEqual(0.15);
      expect(b.metrics[id].tolerance).toBeLessThanOrEqual(0.5);
    }
  });
});

test('the chart: one line per implementation over the batch sizes, baselines level', () => {
  // y: packets per CPU-second, 1 / cost (here as if each trial kept a core busy).
  const ms = packetMetrics(0.9).map((m: { value: number }) => ({ ...m, cost: 1 / m.value }));
  const svg: string = chart({ ...run(0.9), metrics: ms });
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.trim().endsWith('</svg>')).toBe(true);
  // vpn-batch at batch 1, 16 and 256: one polyline through three points.
  const line = /<polyline[^>]*stroke="#1f6feb"[^>]*points="([^"]+)"/.exec(svg);
  expect(line?.[1].split(' ')).toHaveLength(3);
  // The C loop: a level line across the panel.
  const level =
    /<line x1="([\d.]+)" x2="([\d.]+)" y1="([\d.]+)" y2="([\d.]+)" stroke="#1a7f37"/.exec(svg);
  expect(level).not.toBeNull();
  expect(level?.[3]).toBe(level?.[4]);
  expect(svg).toMatch(/recv 64B payload/);
  // Wall-clock mode draws the same lines from the values.
  const wall: string = chart({ ...run(0.9), metrics: packetMetrics(0.9) }, { wall: true });
  expect(/<polyline[^>]*points="([^"]+)"/.exec(wall)?.[1]).toBe(line?.[1]);
  expect(svg).toMatch(/C read\(\) loop/);
});

test("the README's gate table is what bench/baseline.json holds", () => {
  // Prettier aligns the table's columns: compare with whitespace and the
  // separator row's dashes collapsed.
  const norm = (t: string) => t.replace(/-{3,}/g, '---').replace(/\s+/g, ' ').trim();
  const baseline = JSON.parse(fs.readFileSync(path.join(root, 'bench', 'baseline.json'), 'utf8'));
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const table: string = readmeTable(baseline);
  const start = table.split('\n')[0];
  const end = table.split('\n').at(-1) as string;
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  expect(a).toBeGreaterThan(0);
  expect(b).toBeGreaterThan(a);
  expect(norm(readme.slice(a, b + end.length))).toBe(norm(table));
  // Every gated metric of the baseline has its row.
  for (const id of Object.keys(baseline.metrics)) expect(norm(table)).toContain(`| ${id} |`);
  // And the replacement keeps the rest of the README.
  const replaced = withReadmeTable(readme, 'X');
  expect(replaced.slice(0, a)).toBe(readme.slice(0, a));
  expect(replaced.slice(a + 1)).toBe(readme.slice(b + end.length));
});
