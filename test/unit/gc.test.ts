// Closed devices and route tables are freed: a child process run with
// --expose-gc makes them, lets them go and collects (test/fixtures/
// gc-child.js). Every one must be finalized; the slabs of the devices
// (192 KiB ArrayBuffers) must go back, and so must their fds; the tables'
// native structures (1 MiB top levels and the tries) must leave the RSS.
// A device never started nor closed is freed by the collector too, and its
// fd closed.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

interface Memory {
  arrayBuffers: number;
  rss: number;
  fds: number;
}
interface Phase {
  made: number;
  finalized: number;
  bytes?: number;
  before: Memory;
  peak: Memory;
  after: Memory;
}

// Under ASan freed memory waits in its quarantine: the RSS says nothing then.
const sanitized = /asan/.test(process.env.LD_PRELOAD ?? '');

// The title says what this run checks: the plain run checks the RSS too.
test(`closed devices and dropped route tables are collected, and their memory and fds go${
  sanitized ? ' (RSS not checked under ASan: its quarantine keeps freed memory)' : ''
}`, () => {
  const r = spawnSync(
    process.execPath,
    ['--expose-gc', path.join(__dirname, '../fixtures/gc-child.js')],
    { encoding: 'utf8', timeout: 60000 },
  );
  expect(r.stderr).toBe('');
  const out = JSON.parse(r.stdout) as Record<string, Phase>;
  const MB = 1 << 20;
  for (const [name, p] of Object.entries(out)) {
    // Each phase: all finalized, but perhaps the last one, which the engine
    // may hold a little longer; at the end, every one.
    expect([name, p.made - p.finalized <= (name === 'end' ? 0 : 1)]).toEqual([name, true]);
    if (name === 'end') {
      // (Node's own small buffers come and go: a few KiB either way.)
      expect(p.after.arrayBuffers).toBeLessThan(p.before.arrayBuffers + 16 * 1024);
      expect(p.after.fds).toBe(p.before.fds);
    } else if (name === 'tables') {
      expect(p.bytes).toBeGreaterThan(12 * 2 * MB); // two top levels a table, at least
      if (!sanitized) {
        const grew = p.peak.rss - p.before.rss;
        expect(grew).toBeGreaterThan(p.bytes! / 2);
        expect(p.after.rss - p.before.rss).toBeLessThan(grew / 2);
      }
    } else {
      const SLAB = 192 * 1024 + 8 * 256; // a device's receive slab and its batch table
      const grew = p.peak.arrayBuffers - p.before.arrayBuffers;
      expect([name, grew >= p.made * SLAB && grew < p.made * SLAB + MB]).toEqual([name, true]);
      const left = p.made - p.finalized;
      const kept = p.after.arrayBuffers - p.before.arrayBuffers;
      // (The one an earlier phase left may go during this one: kept < 0.)
      expect([name, kept < left * SLAB + 64 * 1024]).toEqual([name, true]);
      expect([name, p.peak.fds - p.before.fds]).toEqual([name, p.made]);
      // close() closes the fd at once; a dropped device's fd goes with it.
      const open = name === 'closedDevices' ? 0 : left;
      expect([name, p.after.fds - p.before.fds]).toEqual([name, open]);
    }
  }
});
