// RouteTable's API: names fixed by SPEC.md, synchronous visibility, values,
// matched prefixes, bulk loads, errors for every bad CIDR, memory figures.
import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import { RouteTable } from '../../lib/route';

describe('RouteTable', () => {
  test('the SPEC example', () => {
    const t = new RouteTable();
    t.insert('10.0.0.0/8', 1);
    t.insert('2001:db8::/32', 2);
    expect(t.lookup('10.1.2.3')).toBe(1);
    expect(t.lookup('2001:db8::1')).toBe(2);
    expect(t.lookup('11.0.0.1')).toBeUndefined();
    expect(t.size).toBe(2);
    expect(t.delete('10.0.0.0/8')).toBe(true);
    expect(t.delete('10.0.0.0/8')).toBe(false);
    expect(t.lookup('10.1.2.3')).toBeUndefined();
    expect(t.size).toBe(1);
  });

  test('an insert or delete is visible to the very next lookup', () => {
    const t = new RouteTable();
    for (let i = 0; i < 2000; i++) {
      t.insert(`10.${i >> 8}.${i & 255}.0/24`, i);
      expect(t.lookup(`10.${i >> 8}.${i & 255}.7`)).toBe(i);
    }
    t.insert('0.0.0.0/0', 7);
    expect(t.lookup('192.0.2.1')).toBe(7);
    expect(t.lookup('10.0.5.1')).toBe(5);
    t.insert('10.0.0.0/16', 9);
    expect(t.lookup('10.0.5.1')).toBe(5);
    t.delete('10.0.5.0/24');
    expect(t.lookup('10.0.5.1')).toBe(9);
    t.delete('10.0.0.0/16');
    expect(t.lookup('10.0.5.1')).toBe(7);
    t.delete('0.0.0.0/0');
    expect(t.lookup('10.0.5.1')).toBeUndefined();
  });

  test('inserting an existing prefix replaces its value; host bits are masked', () => {
    const t = new RouteTable();
    expect(t.insert('10.0.0.0/8', 1)).toBe(true);
    expect(t.insert('10.1.2.3/8', 2)).toBe(false);
    expect(t.lookup('10.9.9.9')).toBe(2);
    expect(t.get('10.0.0.0/8')).toBe(2);
    expect(t.has('10.0.0.0/8')).toBe(true);
    expect(t.get('10.0.0.0/9')).toBeUndefined();
    expect(t.size).toBe(1);
    expect(RouteTable.normalize('10.1.2.3/8')).toBe('10.0.0.0/8');
    expect(RouteTable.normalize('2001:DB8::1/32')).toBe('2001:db8::/32');
  });

  test('values 0..2^31-1; anything else is a RangeError', () => {
    const t = new RouteTable();
    t.insert('1.0.0.0/8', 0);
    t.insert('2.0.0.0/8', 2147483647);
    expect(t.lookup('1.1.1.1')).toBe(0);
    expect(t.lookup('2.2.2.2')).toBe(2147483647);
    for (const bad of [-1, 2147483648, 1.5, NaN, Infinity]) {
      expect(() => t.insert('3.0.0.0/8', bad)).toThrow(
        expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }),
      );
    }
    expect(() => t.insert('3.0.0.0/8', '1' as unknown as number)).toThrow(TypeError);
    expect(() => t.insertMany(['3.0.0.0/8'], [-5])).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', index: 0 }),
    );
    expect(() => t.insertMany(['3.0.0.0/8'], new Int32Array([-5]))).toThrow(RangeError);
  });

  test('lookup takes an IPv4 address as an unsigned 32-bit number', () => {
    const t = new RouteTable();
    t.insert('192.168.0.0/16', 4);
    t.insert('255.255.255.255/32', 5);
    expect(t.lookup(((192 << 24) | (168 << 16) | 1) >>> 0)).toBe(4);
    expect(t.lookup(0xffffffff)).toBe(5);
    expect(t.lookup(0)).toBeUndefined();
    expect(() => t.lookup(-1)).toThrow(RangeError);
    expect(() => t.lookup(2 ** 32)).toThrow(RangeError);
    expect(() => t.lookup(1.5)).toThrow(RangeError);
    expect(() => t.lookup('1.2.3')).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_IP' }),
    );
    expect(() => t.lookup('10.0.0.0/8')).toThrow(TypeError);
    // Characters past ASCII never read as digits ('\u0131' is 0x31 in its
    // low byte, '１' a full-width one), and the message quotes the text.
    t.insert('1.2.3.0/24', 6);
    expect(t.lookup('1.2.3.4')).toBe(6);
    for (const bad of ['\u0131.2.3.4', '１.2.3.4', '1.2.3.4\u0000', '1.2.3.\u0134']) {
      expect(() => t.lookup(bad)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_IP', message: `Invalid IP address "${bad}"` }),
      );
    }
    expect(() => t.lookup('2001:db8::\u0131')).toThrow(TypeError);
    expect(() => t.lookup(undefined as unknown as string)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  test('lookupPrefix gives the matched prefix', () => {
    const t = new RouteTable();
    t.insert('10.0.0.0/8', 1);
    t.insert('10.1.0.0/16', 2);
    t.insert('2001:db8::/32', 3);
    t.insert('::/0', 4);
    expect(t.lookupPrefix('10.1.2.3')).toEqual({ prefix: '10.1.0.0/16', value: 2 });
    expect(t.lookupPrefix('10.2.0.0')).toEqual({ prefix: '10.0.0.0/8', value: 1 });
    expect(t.lookupPrefix(0x0a010203)).toEqual({ prefix: '10.1.0.0/16', value: 2 });
    expect(t.lookupPrefix('2001:db8:1::5')).toEqual({ prefix: '2001:db8::/32', value: 3 });
    expect(t.lookupPrefix('fe80::1')).toEqual({ prefix: '::/0', value: 4 });
    expect(t.lookupPrefix('11.0.0.0')).toBeUndefined();
  });

  test('lookupBatch4 and lookupBatch6', () => {
    const t = RouteTable.from([
      ['10.0.0.0/8', 1],
      ['10.1.0.0/16', 2],
      ['2001:db8::/32', 3],
    ]);
    const out = new Int32Array(3);
    expect(t.lookupBatch4(new Uint32Array([0x0a000001, 0x0a010001, 0x0b000001]), out)).toBe(3);
    expect(Array.from(out)).toEqual([1, 2, -1]);
    const a6 = new Uint8Array(32);
    a6.set([0x20, 0x01, 0x0d, 0xb8], 0);
    a6.set([0x20, 0x01, 0x0d, 0xb9], 16);
    expect(t.lookupBatch6(a6, out)).toBe(2);
    expect(Array.from(out.subarray(0, 2))).toEqual([3, -1]);
    expect(() => t.lookupBatch4(new Uint32Array(4), new Int32Array(3))).toThrow(RangeError);
    expect(() => t.lookupBatch6(new Uint8Array(17), out)).toThrow(RangeError);
    expect(() => t.lookupBatch4([1] as unknown as Uint32Array, out)).toThrow(TypeError);
  });

  test('classify: value, -1 for no match, -2 for not an IP packet', () => {
    const t = RouteTable.from([['10.0.0.0/8', 1]]);
    const data = new Uint8Array(100);
    data[0] = 0x45;
    data.set([10, 1, 2, 3], 16);
    data[20] = 0x45;
    data.set([11, 1, 2, 3], 36);
    data[40] = 0x60; // IPv6, only 30 bytes: too short
    data[70] = 0x70; // version 7
    const meta = new Int32Array([0, 20, 20, 20, 40, 30, 70, 30]);
    const out = new Int32Array(4);
    expect(t.classify(data, meta, 4, out)).toBe(4);
    expect(Array.from(out)).toEqual([1, -1, -2, -2]);
    expect(() => t.classify(data, new Int32Array([90, 20]), 1, out)).toThrow(
      expect.objectContaining({ name: 'RangeError', index: 0 }),
    );
    expect(() => t.classify(data, meta, 5, out)).toThrow(RangeError);
  });

  test('insertMany: counts, duplicates (last wins), masked entries reported', () => {
    const t = new RouteTable();
    t.insert('10.0.0.0/8', 1);
    const r = t.insertMany(
      ['10.0.0.0/8', '10.1.2.3/16', '2001:db8::1/32', '10.1.0.0/16'],
      [5, 6, 7, 8],
    );
    expect(r).toMatchObject({ count: 4, added: 2, replaced: 2, masked: 2, maskedIndex: [1, 2] });
    expect(r.warnings[0]).toMatch(
      /entry 1: 10\.1\.2\.3\/16 has host bits set; used as 10\.1\.0\.0\/16/,
    );
    expect(t.lookup('10.1.9.9')).toBe(8);
    expect(t.lookup('10.2.0.0')).toBe(5);
    expect(t.insertMany(['1.0.0.0/8', '2.0.0.0/8'], 3).added).toBe(2);
    expect(t.lookup('2.2.2.2')).toBe(3);
    expect(t.insertMany([], []).count).toBe(0);
    expect([...t]).toEqual([
      ['1.0.0.0/8', 3],
      ['2.0.0.0/8', 3],
      ['10.0.0.0/8', 5],
      ['10.1.0.0/16', 8],
      ['2001:db8::/32', 7],
    ]);
  });

  test('every bad CIDR is an error naming the entry, and a bulk load is all or nothing', () => {
    const bad: [string, string][] = [
      ['1.2.3.4/33', 'RangeError'],
      ['::/129', 'RangeError'],
      ['1.2.3/8', 'TypeError'],
      ['::g/8', 'TypeError'],
      ['', 'TypeError'],
      [' 10.0.0.0/8', 'TypeError'],
      ['10.0.0.0/8 ', 'TypeError'],
      ['10.0.0.0 /8', 'TypeError'],
      ['10.0.0.0/ 8', 'TypeError'],
      ['10.0.0.0', 'TypeError'],
      ['10.0.0.0/', 'TypeError'],
      ['/8', 'TypeError'],
      ['10.0.0.0/08', 'TypeError'],
      ['10.0.0.0/-1', 'TypeError'],
      ['010.0.0.0/8', 'TypeError'],
      ['256.0.0.0/8', 'TypeError'],
      ['1.2.3.4.5/8', 'TypeError'],
      ['1::2::3/64', 'TypeError'],
      ['12345::/16', 'TypeError'],
      ['fe80::1%eth0/64', 'TypeError'],
      ['[::1]/128', 'TypeError'],
      ['10.0.0.0/8\n11.0.0.0/8', 'TypeError'],
      ['x'.repeat(100), 'TypeError'],
    ];
    const t = new RouteTable();
    for (const [cidr, name] of bad) {
      let caught: (Error & { code?: string }) | undefined;
      try {
        t.insert(cidr, 1);
      } catch (e) {
        caught = e as Error & { code?: string };
      }
      expect(caught).toBeDefined();
      expect(caught?.name).toBe(name);
      expect(caught?.code).toBe('ERR_INVALID_CIDR');
      expect(caught?.message).toContain('Invalid CIDR');
      // In a list: the error says which entry, nothing is added.
      try {
        t.insertMany(['10.0.0.0/8', '11.0.0.0/8', cidr], [1, 2, 3]);
        throw new Error(`accepted ${JSON.stringify(cidr)}`);
      } catch (e) {
        const err = e as Error & { code?: string; index?: number };
        expect(err.code).toBe('ERR_INVALID_CIDR');
        expect(err.index).toBe(2);
        expect(err.message).toContain('at index 2');
      }
      expect(t.size).toBe(0);
    }
    expect(() => t.insert(5 as unknown as string, 1)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => t.insertMany(['1.0.0.0/8', 5 as unknown as string], 1)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', index: 1 }),
    );
  });

  test('fromAsync builds off the event loop and reports errors with the entry', async () => {
    const cidrs: string[] = [];
    for (let i = 0; i < 100000; i++)
      cidrs.push(`${(i >> 16) + 1}.${(i >> 8) & 255}.${i & 255}.0/24`);
    const values = Int32Array.from(cidrs, (_, i) => i);
    const t = await RouteTable.fromAsync(cidrs, values);
    expect(t.size).toBe(100000);
    expect(t.lookup('1.2.3.4')).toBe(0x0203);
    expect(t).toBeInstanceOf(RouteTable);
    const [, report] = await RouteTable.fromAsyncWithReport(['1.2.3.4/8'], 1);
    expect(report.masked).toBe(1);
    const failed = RouteTable.fromAsync(['1.0.0.0/8', '1.2.3.4/33'], 1);
    await expect(failed).rejects.toThrow(RangeError);
    await expect(failed).rejects.toMatchObject({ code: 'ERR_INVALID_CIDR', index: 1 });
  });

  test('text input: one CIDR a line, from a Buffer, sync and async', async () => {
    const text = Buffer.from('10.0.0.0/8\n10.1.2.3/16\n2001:db8::/32\n10.1.0.0/16\n');
    const t = RouteTable.from(text, Int32Array.from([5, 6, 7, 8]));
    expect(t.size).toBe(3);
    expect(t.lookup('10.1.9.9')).toBe(8);
    expect(t.lookup('2001:db8::1')).toBe(7);
    const r = t.insertMany(Buffer.from('1.0.0.0/8\n1.2.3.4/16'), 3);
    expect(r).toMatchObject({ count: 2, added: 2, masked: 1, maskedIndex: [1] });
    expect(r.warnings).toEqual(['entry 1: 1.2.3.4/16 has host bits set; used as 1.2.0.0/16']);
    expect(t.lookup('1.2.9.9')).toBe(3);
    // Empty text is no entries; a final newline is allowed, an empty line is not.
    expect(t.insertMany(new Uint8Array(0), 1).count).toBe(0);
    expect(() => t.insertMany(Buffer.from('1.0.0.0/8\n\n2.0.0.0/8'), 1)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_CIDR', index: 1 }),
    );
    // One value per line, or one for all.
    expect(() => t.insertMany(Buffer.from('1.0.0.0/8\n2.0.0.0/8'), [1, 2, 3])).toThrow(
      expect.objectContaining({
        name: 'RangeError',
        code: 'ERR_OUT_OF_RANGE',
        message: 'values has 3 entries for 2 prefixes',
      }),
    );
    expect(t.size).toBe(5);
    const [u, report] = await RouteTable.fromAsyncWithReport(
      Buffer.from('192.0.2.1/24\n198.51.100.0/24\n'),
      [1, 2],
    );
    expect(u.size).toBe(2);
    expect(u.lookup('192.0.2.77')).toBe(1);
    expect(report.warnings).toEqual([
      'entry 0: 192.0.2.1/24 has host bits set; used as 192.0.2.0/24',
    ]);
    // The async build copies the text: changing the buffer afterwards is
    // harmless.
    const buf = Buffer.from('203.0.113.0/24');
    const pending = RouteTable.fromAsync(buf, 9);
    buf.fill(0x41);
    expect((await pending).lookup('203.0.113.5')).toBe(9);
    await expect(
      RouteTable.fromAsync(Buffer.from('1.0.0.0/8\n1.2.3.4/33'), 1),
    ).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_INVALID_CIDR', index: 1 });
    await expect(RouteTable.fromAsync(Buffer.from('1.0.0.0/8'), [1, 2])).rejects.toMatchObject({
      code: 'ERR_OUT_OF_RANGE',
    });
  });

  test('a burst of changes to a big table rebuilds on a worker; lookups stay right', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 100000; i++)
      lines.push(`${32 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
    const t = RouteTable.from(Buffer.from(lines.join('\n')), 1);
    const addr = (i: number) => `${32 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.9`;
    expect(t.lookup(addr(5))).toBe(1);
    expect(t.rebuilding).toBe(false);
    // Over 1/32 of the table changed before the next lookup.
    for (let i = 0; i < 5000; i++) t.insert(`${addr(i * 7).slice(0, -2)}.0/24`, 2 + (i % 5));
    for (let i = 0; i < 4000; i++) t.delete(`${addr(90000 + i).slice(0, -2)}.0/24`);
    const want = (i: number) =>
      i >= 90000 && i < 94000 ? undefined : i % 7 === 0 && i / 7 < 5000 ? 2 + ((i / 7) % 5) : 1;
    const check = () => {
      let bad = 0;
      for (let i = 0; i < 100000; i += 97) if (t.lookup(addr(i)) !== want(i)) bad++;
      const out = new Int32Array(1000);
      const keys = new Uint32Array(1000);
      for (let k = 0; k < 1000; k++) {
        const i = (k * 101) % 100000;
        keys[k] = (32 * 2 ** 24 + i * 256 + 9) >>> 0;
      }
      t.lookupBatch4(keys, out);
      for (let k = 0; k < 1000; k++) if (out[k] !== (want((k * 101) % 100000) ?? -1)) bad++;
      return bad;
    };
    expect(check()).toBe(0);
    expect(t.rebuilding).toBe(true);
    t.insert('32.0.5.0/24', 9); // during the rebuild
    expect(t.lookup('32.0.5.1')).toBe(9);
    for (let waited = 0; t.rebuilding && waited < 10000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(t.rebuilding).toBe(false);
    expect(t.lookup('32.0.5.1')).toBe(9);
    t.insert('32.0.5.0/24', want(5) as number);
    expect(check()).toBe(0);
    expect(t.size).toBe(100000 - 4000);
  });

  test('bytes and controlBytes describe the native memory', () => {
    const t = new RouteTable();
    expect(t.bytes).toBe(0);
    t.insertMany(
      Array.from({ length: 5000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`),
      1,
    );
    expect(t.bytes).toBeGreaterThan(0);
    expect(t.controlBytes).toBeGreaterThan(5000 * 8);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.lookup('10.0.0.1')).toBeUndefined();
  });

  test('works in a worker thread (per-environment state)', async () => {
    const addon = process.env.VPN_PROVIDER_ADDON
      ? path.resolve(process.env.VPN_PROVIDER_ADDON)
      : // The addon the package loads: build/Release, else the prebuild.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        (require('node-gyp-build') as { path(dir: string): string }).path(
          path.join(__dirname, '..', '..'),
        );
    const src = `
      const { parentPort } = require('node:worker_threads');
      const { RouteTable } = require(${JSON.stringify(addon)});
      const t = new RouteTable();
      t.insert('10.0.0.0/8', 42);
      RouteTable.buildAsync('1.0.0.0/8', 1, 7).then(([u]) => {
        parentPort.postMessage([t.lookup('10.1.1.1'), u.lookup('1.1.1.1')]);
      });
    `;
    const result = await new Promise((resolve, reject) => {
      const w = new Worker(src, { eval: true });
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(result).toEqual([42, 7]);
  });
});
