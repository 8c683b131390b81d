// What a session can leave in the kernel, read with `ip`: TUN links, the
// policy rules that consult the session's table, and the table's routes.
import { execFileSync } from 'node:child_process';
import { ip, plainEnv } from './ip';

export interface KernelState {
  tunLinks: string[];
  rules: string[];
  routes: string[];
}

const TABLE = 30100;

/** TUN links anywhere in the namespace; rules and routes of `table`. */
export function kernelState(table = TABLE): KernelState {
  const links = JSON.parse(ip('-j', '-d', 'link', 'show')) as {
    ifname: string;
    linkinfo?: { info_kind?: string };
  }[];
  const rules: string[] = [];
  const routes: string[] = [];
  for (const family of ['-4', '-6']) {
    for (const r of JSON.parse(ip(family, '-j', 'rule', 'show')) as {
      priority: number;
      table: string;
    }[]) {
      // A session's rules: the lookup of its table, and its goto rules at
      // its priority (the tests' pairs have priority = table).
      if (r.table === String(table)) rules.push(`${family} ${r.priority} lookup ${r.table}`);
      else if (r.priority === table) rules.push(`${family} ${r.priority} goto`);
    }
    let out = '';
    try {
      out = execFileSync('ip', [family, 'route', 'show', 'table', String(table)], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        env: plainEnv(),
      }).trim();
    } catch (err) {
      // A table that was never used does not exist: no routes.
      if (!/does not exist/.test(String((err as { stderr?: unknown }).stderr))) throw err;
    }
    if (out) routes.push(...out.split('\n').map((l) => `${family} ${l}`));
  }
  return {
    tunLinks: links.filter((l) => l.linkinfo?.info_kind === 'tun').map((l) => l.ifname),
    rules,
    routes,
  };
}

export const NOTHING: KernelState = { tunLinks: [], rules: [], routes: [] };
