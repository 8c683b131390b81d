// The house's shape, checked on the sources: no import circle in lib/, type
// imports included (a circle of types is still two modules that cannot be
// read, or moved, one without the other).
import * as fs from 'node:fs';
import * as path from 'node:path';

const lib = path.join(__dirname, '..', '..', 'lib');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The relative modules a file imports at its top (static imports and re-exports). */
function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom '(\.[^']+)';/gms)) {
    const target = path.resolve(path.dirname(file), m[1]);
    out.push(fs.existsSync(target + '.ts') ? target + '.ts' : path.join(target, 'index.ts'));
  }
  return out;
}

function circles(files: string[]): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const found: string[] = [];
  const visit = (f: string, trail: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      const loop = [...trail.slice(trail.indexOf(f)), f];
      found.push(loop.map((x) => path.relative(lib, x)).join(' -> '));
      return;
    }
    state.set(f, 'open');
    for (const r of imports(f)) visit(r, [...trail, f]);
    state.set(f, 'done');
  };
  for (const f of files) visit(f, []);
  return found;
}

test('lib has no import circle', () => {
  const files = sources(lib);
  expect(files.length).toBeGreaterThan(30);
  // The check sees imports: the platform reaches its session and the control server.
  expect(imports(path.join(lib, 'platform', 'platform.ts'))).toEqual(
    expect.arrayContaining([
      path.join(lib, 'platform', 'session.ts'),
      path.join(lib, 'platform', 'control.ts'),
    ]),
  );
  expect(circles(files)).toEqual([]);
});
