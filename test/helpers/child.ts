// Runs test/fixtures/exit-child.js and measures how long it takes to exit.
import { spawn } from 'node:child_process';
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
