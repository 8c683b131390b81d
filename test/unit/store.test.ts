// The configuration store: persistence, modes, atomicity, corruption, and
// two processes writing at once.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createPlatform } from '../../lib';
import { ConfigStore } from '../../lib/platform/store';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-store-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('configs persist across platforms, per provider, in a 0600 file', async () => {
  const a = createPlatform({ stateDir: dir });
  await a.provider('p1').createConfig('office');
  await a.provider('p2').createConfig('office');
  await a.provider('p1').createConfig('home');
  await a.close();
  const st = fs.statSync(path.join(dir, 'configs.json'));
  expect(st.mode & 0o777).toBe(0o600);
  const b = createPlatform({ stateDir: dir });
  expect(b.configs()).toEqual(
    expect.arrayContaining([
      { providerId: 'p1', id: 'office', name: 'office' },
      { providerId: 'p2', id: 'office', name: 'office' },
      { providerId: 'p1', id: 'home', name: 'home' },
    ]),
  );
  await expect(b.provider('p1').createConfig('office')).rejects.toThrow('Name not unique.');
  await b.provider('p1').destroyConfig('office');
  await b.close();
  const c = createPlatform({ stateDir: dir });
  expect(c.configs()).toHaveLength(2);
  await c.close();
  expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

test('a corrupt file is an error naming it, and is never overwritten', async () => {
  const file = path.join(dir, 'configs.json');
  fs.writeFileSync(file, '{"version": 1, "configs": [ {"providerId": "p", "id": ', { mode: 0o600 });
  expect(() => createPlatform({ stateDir: dir })).toThrow(file);
  const store = new ConfigStore(dir);
  await expect(store.update((c) => c)).rejects.toMatchObject({ code: 'ERR_STORE_CORRUPT' });
  expect(fs.readFileSync(file, 'utf8')).toBe(
    '{"version": 1, "configs": [ {"providerId": "p", "id": ',
  );
  fs.writeFileSync(file, '{"version": 2, "configs": []}');
  expect(() => store.load()).toThrow(/corrupt .*version/);
  fs.writeFileSync(file, '{"version": 1, "configs": [{"id": 3}]}');
  expect(() => store.load()).toThrow(/entry 0/);
});

test('two processes creating configs at once lose nothing', async () => {
  const script = `
    const { createPlatform } = require(${JSON.stringify(path.join(__dirname, '../../dist'))});
    const p = createPlatform({ stateDir: process.argv[1] });
    (async () => {
      for (let i = 0; i < 25; i++) await p.provider(process.argv[2]).createConfig('c' + i);
      await p.close();
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const run = (who: string) =>
    new Promise<number>((resolve) => {
      const c = spawn(process.execPath, ['-e', script, dir, who], { stdio: 'inherit' });
      c.on('exit', (code) => resolve(code ?? 1));
    });
  expect(await Promise.all([run('a'), run('b'), run('c')])).toEqual([0, 0, 0]);
  const configs = new ConfigStore(dir).load();
  expect(configs).toHaveLength(75);
  expect(new Set(configs.map((c) => `${c.providerId}/${c.id}`)).size).toBe(75);
});

test('a configuration file cut at any byte: corrupt, named, left as it is', async () => {
  const a = createPlatform({ stateDir: dir, log: () => {}, controlSocket: false });
  for (const name of ['office', 'home', 'lab']) await a.provider('p').createConfig(name);
  await a.close();
  const file = path.join(dir, 'configs.json');
  const whole = fs.readFileSync(file, 'utf8');
  const outcomes = new Map<string, number>();
  for (let n = 0; n < whole.length; n++) {
    const cut = whole.slice(0, n);
    fs.writeFileSync(file, cut);
    let outcome: string;
    try {
      const p = createPlatform({ stateDir: dir, log: () => {}, controlSocket: false });
      outcome = `loaded ${p.configs().length}`;
      await p.close();
    } catch (err) {
      const e = err as { code?: string; message: string };
      outcome =
        e.code === 'ERR_STORE_CORRUPT' && e.message.includes(file) ? 'corrupt' : String(err);
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    expect(fs.readFileSync(file, 'utf8')).toBe(cut); // never rewritten
  }
  // Only the whole text less its final newline still parses.
  expect(Object.fromEntries(outcomes)).toEqual({ corrupt: whole.length - 1, 'loaded 3': 1 });
});
