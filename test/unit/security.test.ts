// No shell, and no command built from strings, anywhere in what we ship or
// run: every use of child_process in lib/, bin/, scripts/, examples/ and
// bench/ is read from the source and checked. exec and execSync (which
// always run a shell) are refused, and so is `shell: true`, a command that
// is a template with ${...} or a concatenation, and in lib/ and bin/ (the
// package) any shell at all. Scripts may run `sh -c` only with a script
// that is a fixed string (values go in as "$1", never into the script).
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
const DIRS = ['lib', 'bin', 'scripts', 'examples', 'bench'];
const PACKAGE = ['lib', 'bin'];
const SHELLS = /^['"`](\/bin\/|\/usr\/bin\/)?(sh|bash|dash|zsh|ksh)['"`]$/;

function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (!['node_modules', 'results', '.cache', 'bin'].includes(e.name)) walk(p);
      } else if (/\.(ts|js|mjs|cjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        out.push(p);
      }
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

/** The text of the arguments of the call whose "(" is at `open`, split at top-level commas. */
function callArgs(src: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '"' || c === "'" || c === '`') {
      // Skip the string (template literals may nest ${...}; good enough for a scan).
      for (i++; i < src.length && src[i] !== c; i++) if (src[i] === '\\') i++;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) {
        args.push(src.slice(start, i).trim());
        return args.filter((a) => a !== '');
      }
    } else if (c === ',' && depth === 1) {
      args.push(src.slice(start, i).trim());
      start = i + 1;
    }
  }
  return args;
}

const FUNCTIONS = ['exec', 'execSync', 'execFile', 'execFileSync', 'spawn', 'spawnSync', 'fork'];

interface ChildCall {
  fn: string;
  line: number;
  args: string[];
}

/**
 * The child_process calls in src: by name (spawn(...)), through the module
 * (child_process.spawn(...), cp.spawn(...)), and through a promisified
 * alias (const run = promisify(execFile); run(...)). Methods of other
 * things (regex.exec(...)) are not.
 */
function childCalls(src: string): ChildCall[] {
  if (!/child_process/.test(src)) return [];
  const names = new Map(FUNCTIONS.map((f) => [f, f]));
  for (const m of src.matchAll(/(\w+)\s*=\s*promisify\(\s*(\w+)\s*\)/g)) {
    if (names.has(m[2])) names.set(m[1], names.get(m[2])!);
  }
  const modules = new Set(
    [...src.matchAll(/(\w+)\s*=\s*require\(\s*['"](?:node:)?child_process['"]\s*\)/g)].map(
      (m) => m[1],
    ),
  );
  for (const m of src.matchAll(
    /import\s+\*\s+as\s+(\w+)\s+from\s+['"](?:node:)?child_process['"]/g,
  ))
    modules.add(m[1]);
  const out: ChildCall[] = [];
  for (const m of src.matchAll(/(\b\w+\s*\)?\s*\.\s*)?\b(\w+)\s*\(/g)) {
    const fn = names.get(m[2]);
    if (!fn) continue;
    const owner = m[1]?.replace(/[\s.)]/g, '');
    if (m[1] !== undefined && !(owner && (modules.has(owner) || owner === 'child_process')))
      continue; // a method of something else
    const direct = /require\(\s*['"](?:node:)?child_process['"]\s*\)\s*\.\s*$/.test(
      src.slice(Math.max(0, m.index! - 40), m.index),
    );
    if (m[1] === undefined && src[m.index! - 1] === '.' && !direct) continue; // /re/.exec(
    if (/function\s+$/.test(src.slice(Math.max(0, m.index! - 9), m.index))) continue;
    const args = callArgs(src, m.index! + m[0].length - 1);
    out.push({ fn, line: src.slice(0, m.index).split('\n').length, args });
  }
  return out;
}

/** What is wrong with each child_process call in src. */
export function problems(src: string, file: string, inPackage: boolean): string[] {
  const out: string[] = [];
  for (const { fn, line, args } of childCalls(src)) {
    const where = `${file}:${line}`;
    if (fn === 'exec' || fn === 'execSync') {
      out.push(`${where}: ${fn} runs a shell`);
      continue;
    }
    const [cmd = '', argv = ''] = args;
    if (/\$\{/.test(cmd) || /\+/.test(cmd.replace(/(['"])(?:\\.|(?!\1).)*\1/g, '')))
      out.push(`${where}: the command is built from strings: ${cmd}`);
    if (args.some((a) => /\bshell\s*:\s*(?!false\b)/.test(a))) out.push(`${where}: shell option`);
    if (SHELLS.test(cmd)) {
      if (inPackage) out.push(`${where}: runs a shell (${cmd})`);
      const items = argv.startsWith('[') ? callArgs(`(${argv.slice(1, -1)})`, 0) : [];
      const c = items.indexOf("'-c'");
      const script = c >= 0 ? (items[c + 1] ?? '') : '';
      if (/\$\{/.test(script) || /^['"`].*['"`]\s*\+|\+\s*['"`]/.test(script))
        out.push(`${where}: the shell script is built from strings: ${script}`);
    }
  }
  return out;
}

test('the checker finds what it is for', () => {
  const bad = [
    "const { exec } = require('child_process'); exec(`ip link del ${name}`);",
    "import { execSync } from 'node:child_process'; execSync('ls');",
    "import { spawn } from 'node:child_process'; spawn('ip', args, { shell: true });",
    "import { spawn } from 'node:child_process'; spawn(`/usr/sbin/${tool}`, []);",
    "import { spawn } from 'node:child_process'; spawn('/sbin/' + tool, []);",
    "import { spawnSync } from 'node:child_process'; spawnSync('sh', ['-c', `ip addr add ${a}`]);",
    "import { spawnSync } from 'node:child_process'; spawnSync('sh', ['-c', 'ip addr add ' + a]);",
  ];
  for (const src of bad) expect([src, problems(src, 'x.ts', false).length]).toEqual([src, 1]);
  // In the package, any shell; anywhere, plain argv calls are fine.
  expect(
    problems("require('child_process').spawnSync('sh', ['-c', 'true'])", 'x', true),
  ).toHaveLength(1);
  expect(problems("require('child_process').spawnSync('sh', ['-c', 'true'])", 'x', false)).toEqual(
    [],
  );
  expect(
    problems("require('child_process'); execFile('ip', ['link', name], cb)", 'x', true),
  ).toEqual([]);
  expect(
    problems("require('child_process'); /a/.exec(s); spawn('ip', [`${a}/24`])", 'x', true),
  ).toEqual([]);
});

test('no shell and no command built from strings in lib/, bin/, scripts/, examples/, bench/', () => {
  const found: string[] = [];
  let calls = 0;
  for (const dir of DIRS) {
    for (const file of sources(path.join(root, dir))) {
      const src = fs.readFileSync(file, 'utf8');
      calls += childCalls(src).length;
      found.push(...problems(src, path.relative(root, file), PACKAGE.includes(dir)));
    }
  }
  expect(found).toEqual([]);
  expect(calls).toBeGreaterThan(10); // the scan saw the calls there are
});

test("the package's own child processes: fixed programs, with argv arrays", () => {
  const programs: string[] = [];
  for (const file of sources(path.join(root, 'lib'))) {
    for (const c of childCalls(fs.readFileSync(file, 'utf8'))) {
      programs.push(`${path.relative(root, file)}: ${c.fn}(${c.args[0]}, ${c.args[1]?.[0]}...)`);
    }
  }
  expect(programs.sort()).toEqual([
    // Is systemd-resolved there for this namespace (dnsBackend)?
    "lib/platform/dns.ts: execFile('busctl', [...)",
    "lib/platform/dns.ts: execFile('busctl', [...)",
    // The tunnel's link in resolved: dns, domain, default-route, revert.
    "lib/platform/dns.ts: execFile('resolvectl', [...)",
    "lib/platform/dns.ts: execFile('resolvectl', [...)",
    "lib/platform/dns.ts: execFile('resolvectl', [...)",
    "lib/platform/dns.ts: execFile('resolvectl', [...)",
    "lib/platform/monitor.ts: spawn('gdbus', [...)",
  ]);
});
