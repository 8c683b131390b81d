// Child processes of the tests: test/fixtures/exit-child.js (how long it
// takes to exit), and fixtures that say "ready" and then wait.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export function runChild(
  args: string[],
): Promise<{ code: number | null; ms: number; out: string }> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(__dirname, '../fixtures/exit-child.js'), ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit within 10 s: ${out}`));
    }, 10000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: Date.now() - start, out });
    });
  });
}

export interface Fixture {
  child: ChildProcess;
  /** Everything it printed, both streams. */
  out(): string;
  /** Resolves with the first line that starts with "ready". */
  ready: Promise<string>;
  /** Resolves when it has exited; ms counts from the call of exited(). */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

/** Starts test/fixtures/<name> with args; ready fails if it exits first. */
export function startFixture(name: string, args: string[], timeoutMs = 20000): Fixture {
  const child = spawn(process.execPath, [path.join(__dirname, '../fixtures', name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name}: not ready in time: ${out}`)), timeoutMs);
    const on = (d: Buffer) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('ready'));
      if (line !== undefined) {
        clearTimeout(t);
        resolve(line);
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', (d: Buffer) => (out += d));
    void exit.then(({ code, signal }) => {
      clearTimeout(t);
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready: ${out}`));
    });
  });
  ready.catch(() => {}); // reported by whoever awaits it
  return {
    child,
    out: () => out,
    ready,
    exited: () => {
      const t0 = Date.now();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`${name} did not exit within ${timeoutMs} ms: ${out}`));
        }, timeoutMs);
        void exit.then((r) => {
          clearTimeout(t);
          resolve({ ...r, ms: Date.now() - t0 });
        });
      });
    },
  };
}
