// Differential tests of RouteTable against a naive bit-by-bit trie
// (below): random and adversarial prefix sets (nested, every
// length, duplicates, deletes), single and batched lookups, classify, and
// random operation sequences. Zero mismatches over millions of lookups.
import { RouteTable } from '../../lib/route';

type Words = number[];

interface Node {
  c: [Node | undefined, Node | undefined];
  v: number; // -1: no prefix ends here
}

function bit(a: Words, i: number): number {
  return (a[i >>> 5] >>> (31 - (i & 31))) & 1;
}

class ReferenceTrie {
  private root: Node = { c: [undefined, undefined], v: -1 };
  size = 0;

  insert(a: Words, len: number, value: number): boolean {
    let n = this.root;
    for (let i = 0; i < len; i++) {
      const b = bit(a, i);
      n = n.c[b] ??= { c: [undefined, undefined], v: -1 };
    }
    const added = n.v < 0;
    if (added) this.size++;
    n.v = value;
    return added;
  }

  delete(a: Words, len: number): boolean {
    let n: Node | undefined = this.root;
    for (let i = 0; i < len && n; i++) n = n.c[bit(a, i)];
    if (!n || n.v < 0) return false;
    n.v = -1;
    this.size--;
    return true;
  }

  /** [value, matched length], or [-1, -1]. */
  lookup(a: Words, bits: number): [number, number] {
    let n: Node | undefined = this.root;
    let best = -1;
    let bestLen = -1;
    for (let i = 0; n; i++) {
      if (n.v >= 0) {
        best = n.v;
        bestLen = i;
      }
      if (i === bits) break;
      n = n.c[bit(a, i)];
    }
    return [best, bestLen];
  }
}

// ---------------------------------------------------------------- randomness

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function maskWords(a: Words, len: number): Words {
  return a.map((w, i) => {
    const keep = Math.max(0, Math.min(32, len - 32 * i));
    return keep === 0 ? 0 : keep === 32 ? w >>> 0 : (w & (0xffffffff << (32 - keep))) >>> 0;
  });
}

/** a with its first `len` bits from base and the rest from noise. */
function mix(base: Words, noise: Words, len: number): Words {
  const m = maskWords(base, len);
  return noise.map((w, i) => {
    const keep = Math.max(0, Math.min(32, len - 32 * i));
    const hi = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    return ((m[i] & hi) | (w & ~hi)) >>> 0;
  });
}

function randomWords(r: () => number, n: number): Words {
  return Array.from({ length: n }, () => r());
}

// ---------------------------------------------------------------- text forms

function fmt4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** RFC 5952-ish text (the parser accepts any valid form). */
function fmt6(a: Words, r?: () => number): string {
  const g: number[] = [];
  for (const w of a) g.push(w >>> 16, w & 0xffff);
  // Sometimes the full form, sometimes compressed, sometimes upper case.
  const style = r ? r() % 3 : 1;
  if (style === 0) return g.map((x) => x.toString(16)).join(':');
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const parts = g.map((x) => x.toString(16));
  let s: string;
  if (bestLen < 2) s = parts.join(':');
  else {
    s = `${parts.slice(0, best).join(':')}::${parts.slice(best + bestLen).join(':')}`;
  }
  return style === 2 ? s.toUpperCase() : s;
}

function toBytes6(a: Words, out: Uint8Array, at: number): void {
  for (let i = 0; i < 4; i++) {
    out[at + 4 * i] = a[i] >>> 24;
    out[at + 4 * i + 1] = (a[i] >>> 16) & 255;
    out[at + 4 * i + 2] = (a[i] >>> 8) & 255;
    out[at + 4 * i + 3] = a[i] & 255;
  }
}

interface Family {
  bits: 32 | 128;
  words: 1 | 4;
  text(a: Words, len: number, r: () => number): string;
}
const V4: Family = { bits: 32, words: 1, text: (a, len) => `${fmt4(a[0])}/${len}` };
const V6: Family = { bits: 128, words: 4, text: (a, len, r) => `${fmt6(a, r)}/${len}` };

/**
 * A prefix set that stresses the structure: a few hot bases with prefixes of
 * every length nested under them (so runs, defaults and path compression
 * all change), plus random ones; values from a small set (leaf runs merge)
 * and from a large one (a run per leaf).
 */
function adversarial(fam: Family, seed: number, n: number) {
  const r = rng(seed);
  const hot = Array.from({ length: 6 }, () => randomWords(r, fam.words));
  const out: [Words, number, number][] = [];
  for (let i = 0; i < n; i++) {
    const len = r() % (fam.bits + 1);
    const noise = randomWords(r, fam.words);
    const base = r() % 5 === 0 ? noise : mix(hot[r() % hot.length], noise, r() % (fam.bits + 1));
    // Few values (runs merge) and many (a run per leaf), mixed.
    out.push([maskWords(base, len), len, i % 2 ? r() % 7 : r() % 100000]);
  }
  return { r, hot, prefixes: out };
}

/**
 * IPv6 the way RIRs hand out PI space: /48s in most slots of a few /32
 * pools, more-specifics inside some, covering /29s and /32s, and random
 * prefixes of every length. Dense enough that the lookup structure uses
 * jump nodes (level compression) there.
 */
function densePools(seed: number, n: number) {
  const r = rng(seed);
  const hot = [0x2a0a0000, 0x2a0b0001, 0x24000abc].map((w) => [w, 0, 0, 0]);
  const out: [Words, number, number][] = [];
  for (const h of hot) {
    out.push([maskWords(h, 32), 32, r() % 100]);
    out.push([maskWords([h[0] ^ 0x8, 0, 0, 0], 29), 29, r() % 100]);
  }
  const slots = Math.floor(n / hot.length);
  for (let i = 0; out.length < n; i++) {
    const h = hot[i % hot.length];
    const slot = Math.floor(i / hot.length) % Math.floor(slots * 1.3);
    const a: Words = [h[0], (slot << 16) >>> 0, 0, 0];
    if (r() % 8 === 0) {
      const len = 33 + (r() % 96);
      out.push([maskWords(mix(a, randomWords(r, 4), 48), len), len, r() % 100000]);
    } else if (r() % 5 !== 0) {
      out.push([a, 48, i % 2 ? r() % 7 : r() % 100000]);
    }
  }
  return { r, hot, prefixes: out };
}

function probe(fam: Family, r: () => number, hot: Words[], prefixes: [Words, number, number][]) {
  const noise = randomWords(r, fam.words);
  const k = r() % 3;
  if (k === 0 || prefixes.length === 0) return noise;
  if (k === 1) return mix(hot[r() % hot.length], noise, r() % (fam.bits + 1));
  const [a, len] = prefixes[r() % prefixes.length];
  return mix(a, noise, len);
}

function addrText(fam: Family, a: Words, r: () => number): string {
  return fam.bits === 32 ? fmt4(a[0]) : fmt6(a, r);
}

describe('RouteTable against a bit-by-bit reference trie', () => {
  for (const [name, fam, n, lookups, make] of [
    ['IPv4', V4, 40000, 1_500_000, adversarial],
    ['IPv6', V6, 25000, 400_000, adversarial],
    [
      'IPv6 dense pools',
      V6,
      40000,
      400_000,
      (_: Family, seed: number, k: number) => densePools(seed, k),
    ],
  ] as const) {
    test(`${name}: bulk load, then inserts and deletes; batched and single lookups`, () => {
      const { r, hot, prefixes } = make(fam, 1 + fam.bits, n);
      const ref = new ReferenceTrie();
      // Duplicates inside the list: the last one wins.
      const cidrs = prefixes.map(([a, len]) => fam.text(a, len, r));
      const values = prefixes.map(([, , v]) => v);
      for (const [a, len, v] of prefixes) ref.insert(a, len, v);
      const t = RouteTable.from(cidrs, values);
      expect(t.size).toBe(ref.size);

      let mismatches = 0;
      const check = (count: number) => {
        const B = 4096;
        const keys: Words[] = [];
        const out = new Int32Array(B);
        const a4 = new Uint32Array(B);
        const a6 = new Uint8Array(16 * B);
        for (let done = 0; done < count; done += B) {
          keys.length = 0;
          for (let i = 0; i < B; i++) {
            const k = probe(fam, r, hot, prefixes);
            keys.push(k);
            if (fam.bits === 32) a4[i] = k[0];
            else toBytes6(k, a6, 16 * i);
          }
          if (fam.bits === 32) t.lookupBatch4(a4, out);
          else t.lookupBatch6(a6, out);
          for (let i = 0; i < B; i++) {
            const [want] = ref.lookup(keys[i], fam.bits);
            if (out[i] !== want) mismatches++;
          }
          // A sample through the single-address paths and lookupPrefix.
          for (let i = 0; i < 64; i++) {
            const [want, wlen] = ref.lookup(keys[i], fam.bits);
            const got = t.lookup(fam.bits === 32 && i % 2 ? keys[i][0] : addrText(fam, keys[i], r));
            if ((got ?? -1) !== want) mismatches++;
            const m = t.lookupPrefix(addrText(fam, keys[i], r));
            if ((m?.value ?? -1) !== want) mismatches++;
            if (m && Number(m.prefix.split('/')[1]) !== wlen) mismatches++;
          }
        }
      };
      check(lookups / 2);

      // Single inserts and deletes, each checked by the next lookups.
      for (let op = 0; op < 1500; op++) {
        const i = r() % prefixes.length;
        const [a, len] = prefixes[i];
        if (r() % 2) {
          const v = r() % 7;
          expect(t.insert(fam.text(a, len, r), v)).toBe(ref.insert(a, len, v));
        } else {
          expect(t.delete(fam.text(a, len, r))).toBe(ref.delete(a, len));
        }
        for (let q = 0; q < 8; q++) {
          const k = q === 0 ? mix(a, randomWords(r, fam.words), len) : probe(fam, r, hot, prefixes);
          const [want] = ref.lookup(k, fam.bits);
          if ((t.lookup(addrText(fam, k, r)) ?? -1) !== want) mismatches++;
        }
      }
      expect(t.size).toBe(ref.size);
      check(lookups / 2);
      expect(mismatches).toBe(0);
    });
  }

  test('classify agrees with lookup for mixed IPv4/IPv6 batches', () => {
    const r = rng(99);
    const t = new RouteTable();
    const ref4 = new ReferenceTrie();
    const ref6 = new ReferenceTrie();
    for (let i = 0; i < 5000; i++) {
      const len = r() % 33;
      const a = maskWords([r() & 0xfff00000 ? r() : r()], len);
      t.insert(`${fmt4(a[0])}/${len}`, i);
      ref4.insert(a, len, i);
      const len6 = r() % 129;
      const b = maskWords([0x20010db8, r() & 0xff, r(), r()], len6);
      t.insert(`${fmt6(b)}/${len6}`, i);
      ref6.insert(b, len6, i);
    }
    const count = 1000;
    const data = new Uint8Array(60 * count);
    const meta = new Int32Array(2 * count);
    const want = new Int32Array(count);
    let off = 0;
    for (let i = 0; i < count; i++) {
      const kind = r() % 5;
      let len: number;
      if (kind <= 1) {
        len = 20 + (r() % 40);
        const a = r();
        data[off] = 0x45;
        data[off + 16] = a >>> 24;
        data[off + 17] = (a >>> 16) & 255;
        data[off + 18] = (a >>> 8) & 255;
        data[off + 19] = a & 255;
        want[i] = ref4.lookup([a], 32)[0];
      } else if (kind <= 3) {
        len = 40 + (r() % 20);
        const b = [0x20010db8, r() & 0xff, r(), r()];
        data[off] = 0x60;
        toBytes6(b, data, off + 24);
        want[i] = ref6.lookup(b, 128)[0];
      } else {
        len = r() % 20; // too short, or another version
        data[off] = len > 0 && r() % 2 ? 0x45 : 0x50;
        want[i] = -2;
      }
      meta[2 * i] = off;
      meta[2 * i + 1] = len;
      off += len;
    }
    const out = new Int32Array(count);
    expect(t.classify(data, meta, count, out)).toBe(count);
    expect(Array.from(out)).toEqual(Array.from(want));
  });

  test('random operation sequences on small tables (property test)', () => {
    // Many short runs: insert / replace / delete / lookup in any order, the
    // table checked against the reference after every step.
    let mismatches = 0;
    for (let seed = 0; seed < 300; seed++) {
      const fam = seed % 2 ? V6 : V4;
      const r = rng(1000 + seed);
      const t = new RouteTable();
      const ref = new ReferenceTrie();
      const base = randomWords(r, fam.words);
      const live: [Words, number][] = [];
      for (let step = 0; step < 60; step++) {
        const op = r() % 4;
        if (op < 2 || live.length === 0) {
          const len = r() % (fam.bits + 1);
          const a = maskWords(mix(base, randomWords(r, fam.words), r() % (fam.bits + 1)), len);
          const v = r() % 3;
          if (t.insert(fam.text(a, len, r), v) !== ref.insert(a, len, v)) mismatches++;
          live.push([a, len]);
        } else if (op === 2) {
          const [a, len] = live.splice(r() % live.length, 1)[0];
          if (t.delete(fam.text(a, len, r)) !== ref.delete(a, len)) mismatches++;
        }
        for (let q = 0; q < 6; q++) {
          const k = mix(base, randomWords(r, fam.words), r() % (fam.bits + 1));
          if ((t.lookup(addrText(fam, k, r)) ?? -1) !== ref.lookup(k, fam.bits)[0]) mismatches++;
        }
        if (t.size !== ref.size) mismatches++;
      }
    }
    expect(mismatches).toBe(0);
  });

  test('fromAsync builds the same table as from', async () => {
    const { r, hot, prefixes } = adversarial(V4, 7, 20000);
    const cidrs = prefixes.map(([a, len]) => V4.text(a, len, r));
    const values = Int32Array.from(prefixes.map(([, , v]) => v));
    const a = RouteTable.from(cidrs, values);
    const b = await RouteTable.fromAsync(cidrs, values);
    expect(b.size).toBe(a.size);
    const keys = new Uint32Array(200000);
    for (let i = 0; i < keys.length; i++) keys[i] = probe(V4, r, hot, prefixes)[0];
    const oa = new Int32Array(keys.length);
    const ob = new Int32Array(keys.length);
    a.lookupBatch4(keys, oa);
    b.lookupBatch4(keys, ob);
    expect(Buffer.from(ob.buffer).equals(Buffer.from(oa.buffer))).toBe(true);
  });
});
