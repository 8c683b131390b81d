// The machinery of the bad-input tests: the values to try, a runner that
// turns any outcome of a call (a return, a throw, a rejection, a hang) into
// something to compare, and the error codes README.md documents.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One call with a bad argument, and the code it must fail with ('ok': it must succeed). */
export interface Case {
  what: string;
  run: () => unknown;
  want: string;
}

export type Outcome = { ok: true } | { ok: false; name: string; code: string; message: string };

const HANG_MS = 10000;

/** Runs the call; a sync throw and a rejection are both errors; a hang fails. */
export async function outcome(run: () => unknown): Promise<Outcome> {
  try {
    const r = run();
    if (r && typeof (r as Promise<unknown>).then === 'function') {
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms`)), HANG_MS);
      });
      try {
        await Promise.race([r, hang]);
      } finally {
        clearTimeout(timer);
      }
    }
    return { ok: true };
  } catch (err) {
    const e = err as { name?: unknown; code?: unknown; message?: unknown };
    return {
      ok: false,
      name: String(e?.name),
      code: String(e?.code),
      message: String(e?.message),
    };
  }
}

// ----------------------------------------------------------------- values

/** Values of every wrong type, for an argument that must be a string. */
export const NOT_STRINGS: [string, unknown][] = [
  ['a number', 42],
  ['NaN', NaN],
  ['null', null],
  ['undefined', undefined],
  ['an object', {}],
  ['an array', ['a']],
  ['a boolean', true],
  ['a symbol', Symbol('s')],
  ['a bigint', 10n],
  ['a function', () => 'x'],
];

/** Values of every wrong type, for an argument that must be a number. */
export const NOT_NUMBERS: [string, unknown][] = [
  ['a string', '1'],
  ['null', null],
  ['undefined', undefined],
  ['an object', {}],
  ['an array', [1]],
  ['a boolean', true],
  ['a bigint', 1n],
];

/** Numbers out of any integer range an argument may have. */
export const BAD_NUMBERS: [string, number][] = [
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-1', -1],
  ['1.5', 1.5],
  ['2^53', 2 ** 53],
];

/** 16 MiB of text. */
export const HUGE = 'x'.repeat(16 << 20);

export function detachedBuffer(size = 64): ArrayBuffer {
  const ab = new ArrayBuffer(size);
  structuredClone(ab, { transfer: [ab] });
  return ab;
}

// ------------------------------------------------------------ documented

/** code -> class names, from the Errors table of README.md. */
export function documentedErrors(): { codes: Map<string, Set<string>>; errno: Set<string> } {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
  const start = readme.indexOf('### Errors');
  const section = readme.slice(start, readme.indexOf('\n## ', start));
  const codes = new Map<string, Set<string>>();
  const errno = new Set<string>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const [, first, second] = line.split('|');
    const classes = new Set([...second.matchAll(/`(\w+)`/g)].map((m) => m[1]));
    for (const m of first.matchAll(/`(\w+)`/g)) {
      if (/^E[A-Z0-9]+$/.test(m[1])) {
        for (const c of classes) errno.add(c);
      } else {
        codes.set(m[1], classes);
      }
    }
  }
  return { codes, errno };
}

const documented = documentedErrors();

/** Why an outcome is not a documented error, or null. */
export function undocumented(o: Outcome): string | null {
  if (o.ok) return null;
  if (/^E[A-Z0-9]+$/.test(o.code)) {
    return documented.errno.has(o.name) ? null : `${o.name} ${o.code} is not a documented class`;
  }
  const classes = documented.codes.get(o.code);
  if (!classes) return `code ${o.code} is not in README.md's Errors table (${o.message})`;
  if (!classes.has(o.name)) return `${o.code} came as ${o.name}, documented as ${[...classes]}`;
  return null;
}

/** Runs the cases; returns one line per case whose outcome is not what it must be. */
export async function check(cases: Case[], after?: () => string | null): Promise<string[]> {
  const wrong: string[] = [];
  for (const c of cases) {
    const o = await outcome(c.run);
    const got = o.ok ? 'ok' : o.code;
    if (got !== c.want) {
      wrong.push(
        `${c.what}: wanted ${c.want}, got ${o.ok ? 'ok' : `${o.name} ${o.code}: ${o.message.slice(0, 200)}`}`,
      );
      continue;
    }
    const why = undocumented(o);
    if (why) wrong.push(`${c.what}: ${why}`);
    const broken = after?.();
    if (broken) wrong.push(`${c.what}: ${broken}`);
  }
  return wrong;
}
