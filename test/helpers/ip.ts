// Runs iproute2's `ip` (and other system tools: mount) for a test's checks
// and set-up. Without the sanitizer preload of a sanitized run: that checks
// our code, not ip's (ip has a strncpy overlap ASan reports).
import { execFileSync } from 'node:child_process';

/** The environment minus LD_PRELOAD. */
export function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  return env;
}

/** Runs a system tool (fixed arguments, no shell) and returns its output. */
export function tool(cmd: string, ...args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, env: plainEnv() });
}

export function ip(...args: string[]): string {
  return tool('ip', ...args);
}

/** `ip -batch -` with these commands on its standard input. */
export function ipBatch(input: string, ...flags: string[]): string {
  return execFileSync('ip', [...flags, '-batch', '-'], {
    input,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: plainEnv(),
  });
}
