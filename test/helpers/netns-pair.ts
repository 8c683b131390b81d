// Two network namespaces of a test's own joined by a veth pair (a stand-in
// physical network), and processes started in one with their stdout read
// line by line: what the tunnel, README-client, Chrome-extension and
// WireGuard tests share.
import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';
import { ip } from './ip';

/**
 * A veth pair `dev` between namespaces a and b (both already added), an
 * address on each end, both ends and both loopbacks up.
 */
export function joinByVeth(a: string, b: string, addrA: string, addrB: string, dev = 'wan0'): void {
  ip('-n', a, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', dev, 'netns', b);
  ip('-n', a, 'addr', 'add', addrA, 'dev', dev);
  ip('-n', b, 'addr', 'add', addrB, 'dev', dev);
  for (const ns of [a, b]) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
}

export interface NsProcess {
  child: ChildProcess;
  /** Takes (and resolves with) the first line printed that matches; fails on exit or after ms. */
  next(pred: (line: string) => boolean, ms?: number): Promise<string>;
  /** Forgets the lines read so far that match (to wait for a fresh one). */
  drop(pred: (line: string) => boolean): void;
  stderr(): string;
}

/** `ip netns exec ns ...argv`; its stdout read by line. */
export function startInNetns(ns: string, argv: string[], env: NodeJS.ProcessEnv = {}): NsProcess {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const label = argv[0] === process.execPath ? argv[1] : argv[0];
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  readline.createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l);
    wake?.();
  });
  const next = (pred: (line: string) => boolean, ms = 20000) =>
    new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${label}: timed out; stderr: ${err}`)), ms);
      const check = () => {
        const i = lines.findIndex(pred);
        if (i >= 0) {
          clearTimeout(t);
          return resolve(lines.splice(i, 1)[0]);
        }
        if (child.exitCode !== null) {
          clearTimeout(t);
          return reject(new Error(`${label} exited (${child.exitCode}): ${err}`));
        }
        wake = check;
      };
      child.once('exit', () => wake?.());
      check();
    });
  const drop = (pred: (line: string) => boolean) => {
    for (let i = lines.length - 1; i >= 0; i--) if (pred(lines[i])) lines.splice(i, 1);
  };
  return { child, next, drop, stderr: () => err };
}
