// RouteTable: a longest-prefix-match table of IPv4 and IPv6 prefixes to
// integer values, over the native one (native/route, native/binding/
// route_binding.cc). It is what the inclusion and exclusion lists of
// setParameters become, and is exported for servers that route by
// destination (a peer per packet, as WireGuard's allowed-IPs table does).
//
// Every method is synchronous (it is a data structure) except fromAsync,
// which parses and builds on a worker thread. An insert or delete is seen by
// the very next lookup (a patch, inside that lookup; after a burst of
// changes to a big table, lookups answer from the control plane while a
// worker rebuilds).
import { isUint8Array } from 'node:util/types';

import { coded, fromNative } from '../errors';
import { native } from '../native';
import type { NativeBulkReport, NativeRouteTable } from '../native';

/** The largest value a prefix can carry (values are 0..2^31-1). */
export const MAX_ROUTE_VALUE = 0x7fffffff;

/** What a bulk load did. */
export interface BulkReport {
  /** Entries given. */
  count: number;
  /** Prefixes that were not in the table before. */
  added: number;
  /** Entries that replaced the value of a prefix already there (or of an earlier duplicate). */
  replaced: number;
  /** Entries with host bits set (e.g. `10.1.2.3/8`), masked to their network as the kernel does. */
  masked: number;
  /** Indexes of the first (up to 100) masked entries. */
  maskedIndex: number[];
  /** One line per masked entry reported in maskedIndex: `entry 3: 10.1.2.3/8 has host bits set; used as 10.0.0.0/8`. */
  warnings: string[];
}

/** The longest matching prefix of an address and its value. */
export interface RouteMatch {
  prefix: string;
  value: number;
}

export type RouteValues = Int32Array | readonly number[] | number;

/**
 * A list of CIDRs: an array of strings, or UTF-8 text with one CIDR a line
 * (e.g. a Buffer read from a file; a final newline is allowed). The text
 * form skips building a million JS strings and joining them: the fastest
 * way to load a big list.
 */
export type CidrList = readonly string[] | Uint8Array;

function checkCidrs(cidrs: readonly string[]): void {
  if (!Array.isArray(cidrs)) {
    throw coded(new TypeError('cidrs must be an array of strings'), 'ERR_INVALID_ARG_TYPE');
  }
  for (let i = 0; i < cidrs.length; i++) {
    if (typeof cidrs[i] !== 'string') {
      throw coded(
        new TypeError(`cidrs[${i}] must be a string; received ${typeof cidrs[i]}`),
        'ERR_INVALID_ARG_TYPE',
        i,
      );
    }
  }
}

// count < 0: not known here (text input); the native side checks it.
function toValues(values: RouteValues, count: number): Int32Array | number {
  if (typeof values === 'number' || values instanceof Int32Array) return values;
  if (!Array.isArray(values)) {
    throw coded(
      new TypeError('values must be an Int32Array, an array of numbers or a number'),
      'ERR_INVALID_ARG_TYPE',
    );
  }
  if (count >= 0 && values.length !== count) {
    throw coded(
      new RangeError(`values has ${values.length} entries for ${count} prefixes`),
      'ERR_OUT_OF_RANGE',
    );
  }
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v > MAX_ROUTE_VALUE) {
      throw coded(
        new RangeError(
          `values[${i}] must be an integer from 0 to ${MAX_ROUTE_VALUE}; received ${String(v)}`,
        ),
        'ERR_OUT_OF_RANGE',
        i,
      );
    }
    out[i] = v;
  }
  return out;
}

// The native side takes the entries joined by '\n'; an entry that holds a
// newline itself is found here, so that the error names it.
function joined(cidrs: readonly string[]): string {
  return cidrs.join('\n');
}

// The list as UTF-8, in slices of SLICE entries with a turn of the event
// loop between slices, so that a list of a million entries never holds the
// loop for more than a few milliseconds; the worker joins the pieces with
// '\n'.
const SLICE = 32768;

async function encodeInSlices(cidrs: readonly string[]): Promise<Uint8Array[]> {
  if (!Array.isArray(cidrs)) checkCidrs(cidrs);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < cidrs.length; i += SLICE) {
    const end = Math.min(cidrs.length, i + SLICE);
    for (let j = i; j < end; j++) {
      if (typeof cidrs[j] !== 'string') checkCidrs(cidrs);
    }
    pieces.push(Buffer.from(cidrs.slice(i, end).join('\n'), 'utf8'));
    if (end < cidrs.length) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return pieces;
}

function rethrowBulk(err: unknown, cidrs: CidrList): never {
  const e = err as Error & { code?: string; index?: number };
  if (e && e.code === 'ERR_INVALID_CIDR' && e.index === undefined && !isUint8Array(cidrs)) {
    const i = cidrs.findIndex((c) => c.includes('\n'));
    if (i >= 0) {
      throw coded(
        new TypeError(
          `Invalid CIDR ${JSON.stringify(cidrs[i].slice(0, 60))} at index ${i}: holds a newline`,
        ),
        'ERR_INVALID_CIDR',
        i,
      );
    }
  }
  throw err;
}

function report(r: NativeBulkReport): BulkReport {
  const { maskedText, ...rest } = r;
  const warnings = r.maskedIndex.map(
    (i, k) =>
      `entry ${i}: ${maskedText[k]} has host bits set; used as ${native.RouteTable.normalize(maskedText[k])}`,
  );
  return { ...rest, warnings };
}

function split(entries: Iterable<readonly [string, number]>): [string[], number[]] {
  if (
    typeof entries !== 'object' ||
    entries === null ||
    typeof (entries as Partial<Iterable<unknown>>)[Symbol.iterator] !== 'function'
  ) {
    throw coded(
      new TypeError('entries must be an iterable of [cidr, value] pairs'),
      'ERR_INVALID_ARG_TYPE',
    );
  }
  const cidrs: string[] = [];
  const values: number[] = [];
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2) {
      throw coded(
        new TypeError('each entry must be a [cidr, value] pair'),
        'ERR_INVALID_ARG_TYPE',
        cidrs.length,
      );
    }
    cidrs.push(entry[0]);
    values.push(entry[1]);
  }
  return [cidrs, values];
}

// A native table built elsewhere (fromAsync) for the next constructor call.
let adopting: NativeRouteTable | null = null;

export class RouteTable {
  #t: NativeRouteTable;

  constructor() {
    try {
      this.#t = adopting ?? new native.RouteTable();
    } catch (err) {
      throw fromNative(err);
    } finally {
      adopting = null;
    }
  }

  /**
   * A table from `[cidr, value]` pairs, or from a list of CIDRs (strings, or
   * text with one a line) and their values (an Int32Array, an array, or one
   * value for all), built in one native call. Throws on the first bad entry
   * (err.index says which).
   */
  static from(entries: Iterable<readonly [string, number]>): RouteTable;
  static from(cidrs: CidrList, values: RouteValues): RouteTable;
  static from(a: Iterable<readonly [string, number]> | CidrList, values?: RouteValues): RouteTable {
    const t = new RouteTable();
    if (values === undefined) {
      const [cidrs, vals] = split(a as Iterable<readonly [string, number]>);
      t.insertMany(cidrs, vals);
    } else {
      t.insertMany(a as CidrList, values);
    }
    return t;
  }

  /**
   * As `from`, but the parsing and building run on worker threads: a table
   * of 1M prefixes is built without stalling the event loop. An array of
   * strings is joined and encoded on the calling thread first, in slices
   * between turns of the event loop; text (a Uint8Array) is copied once and
   * handed over. Resolves with the table; `fromAsyncWithReport` also gives
   * the BulkReport.
   */
  static async fromAsync(entries: Iterable<readonly [string, number]>): Promise<RouteTable>;
  static async fromAsync(cidrs: CidrList, values: RouteValues): Promise<RouteTable>;
  static async fromAsync(
    a: Iterable<readonly [string, number]> | CidrList,
    values?: RouteValues,
  ): Promise<RouteTable> {
    const [table] = await RouteTable.fromAsyncWithReport(a as CidrList, values as RouteValues);
    return table;
  }

  static async fromAsyncWithReport(
    a: Iterable<readonly [string, number]> | CidrList,
    values?: RouteValues,
  ): Promise<[RouteTable, BulkReport]> {
    let cidrs: CidrList;
    let vals: RouteValues;
    if (values === undefined) {
      [cidrs, vals] = split(a as Iterable<readonly [string, number]>);
    } else {
      cidrs = a as CidrList;
      vals = values;
    }
    let built: [NativeRouteTable, NativeBulkReport];
    if (isUint8Array(cidrs)) {
      const v = toValues(vals, -1);
      try {
        built = await native.RouteTable.buildAsync(cidrs, -1, v);
      } catch (err) {
        throw fromNative(err);
      }
    } else {
      if (!Array.isArray(cidrs)) checkCidrs(cidrs);
      const v = toValues(vals, cidrs.length);
      const pieces = await encodeInSlices(cidrs);
      try {
        built = await native.RouteTable.buildAsync(pieces, cidrs.length, v);
      } catch (err) {
        // Raised on the worker's completion: give it this caller's stack.
        rethrowBulk(fromNative(err), cidrs);
      }
    }
    adopting = built[0];
    return [new RouteTable(), report(built[1])];
  }

  /** The canonical form of a CIDR: `10.1.2.3/8` -> `10.0.0.0/8`, `2001:DB8::1/32` -> `2001:db8::/32`. */
  static normalize(cidr: string): string {
    try {
      return native.RouteTable.normalize(cidr);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Adds a prefix, or replaces its value. Host bits are masked
   * (`10.1.2.3/8` is `10.0.0.0/8`). Returns true when the prefix is new.
   */
  insert(cidr: string, value: number): boolean {
    try {
      return this.#t.insert(cidr, value);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Removes a prefix; false when it was not there. */
  delete(cidr: string): boolean {
    try {
      return this.#t.delete(cidr);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** The value of this very prefix (exact match), or undefined. */
  get(cidr: string): number | undefined {
    let v: number;
    try {
      v = this.#t.get(cidr);
    } catch (err) {
      throw fromNative(err);
    }
    return v < 0 ? undefined : v;
  }

  has(cidr: string): boolean {
    return this.get(cidr) !== undefined;
  }

  /**
   * The value of the longest prefix that contains `address` (a string, or an
   * IPv4 address as an unsigned 32-bit number a<<24|b<<16|c<<8|d), or
   * undefined.
   */
  lookup(address: string | number): number | undefined {
    let v: number;
    if (typeof address === 'number' && address >>> 0 === address) {
      v = this.#t.lookup4(address);
    } else {
      try {
        v = this.#t.lookup(address);
      } catch (err) {
        throw fromNative(err);
      }
    }
    return v < 0 ? undefined : v;
  }

  /** The longest matching prefix and its value, or undefined. */
  lookupPrefix(address: string | number): RouteMatch | undefined {
    let m: [string, number] | null;
    try {
      m = this.#t.lookupPrefix(address);
    } catch (err) {
      throw fromNative(err);
    }
    return m === null ? undefined : { prefix: m[0], value: m[1] };
  }

  /**
   * Looks up every IPv4 address of `addresses` (unsigned 32-bit numbers) in
   * one native call: out[i] = value, or -1. Returns the count.
   */
  lookupBatch4(addresses: Uint32Array, out: Int32Array): number {
    try {
      return this.#t.lookupBatch4(addresses, out);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * The same for IPv6: `addresses` holds 16 bytes per address, in network
   * byte order (as in a packet or a Buffer from net's parsers); out[i] =
   * value of address i, or -1. Returns the count.
   */
  lookupBatch6(addresses: Uint8Array, out: Int32Array): number {
    try {
      return this.#t.lookupBatch6(addresses, out);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Classifies `count` raw IP packets by destination in one native call.
   * Packet i is data[meta[2i] .. meta[2i] + meta[2i+1]) (the layout of the
   * TUN batch). out[i] = the value of its destination's longest match; -1
   * when no prefix matches; -2 when it is not an IP packet: shorter than its
   * fixed header (20 bytes for IPv4, 40 for IPv6) or a first nibble other
   * than 4 or 6. A pair outside `data` throws a RangeError (err.index) before
   * anything is written. Returns count.
   */
  classify(data: Uint8Array, meta: Int32Array, count: number, out: Int32Array): number {
    try {
      return this.#t.classify(data, meta, count, out);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Adds many prefixes in one native call: all of them, or none when an
   * entry is bad (the error names it, err.index is its position). cidrs:
   * strings, or text with one CIDR a line; values: one per entry (Int32Array
   * or array) or one for all. A load that is large next to the table is
   * merged and rebuilt in one go; for a big list, see fromAsync, which keeps
   * the event loop free.
   */
  insertMany(cidrs: CidrList, values: RouteValues): BulkReport {
    let r: NativeBulkReport;
    if (isUint8Array(cidrs)) {
      const v = toValues(values, -1);
      try {
        r = this.#t.insertMany(cidrs, -1, v);
      } catch (err) {
        throw fromNative(err);
      }
      return report(r);
    }
    checkCidrs(cidrs);
    const v = toValues(values, cidrs.length);
    try {
      r = this.#t.insertMany(joined(cidrs), cidrs.length, v);
    } catch (err) {
      rethrowBulk(fromNative(err), cidrs);
    }
    return report(r);
  }

  clear(): void {
    this.#t.clear();
  }

  /** Every [cidr, value], IPv4 first, each family sorted by address then length. */
  *entries(): IterableIterator<[string, number]> {
    const [cidrs, values] = this.#t.entries();
    for (let i = 0; i < cidrs.length; i++) yield [cidrs[i], values[i]];
  }

  [Symbol.iterator](): IterableIterator<[string, number]> {
    return this.entries();
  }

  /** Number of prefixes. */
  get size(): number {
    return this.#t.size;
  }
  get size4(): number {
    return this.#t.size4;
  }
  get size6(): number {
    return this.#t.size6;
  }

  /**
   * Bytes of the lookup structure (the Poptrie). The control-plane trie is
   * `controlBytes`; both are reported to V8 as external memory.
   */
  get bytes(): number {
    return this.#t.bytes;
  }
  get controlBytes(): number {
    return this.#t.controlBytes;
  }

  /**
   * True while a big table (64k prefixes or more in a family) rebuilds its
   * lookup structure on a worker thread after a burst of changes (over 1/32
   * of the table since the last lookup): lookups meanwhile answer from the
   * control-plane trie, correct but 12-70x slower, so that the event loop
   * never waits for the rebuild. Changes made meanwhile are applied when
   * it is done.
   */
  get rebuilding(): boolean {
    return this.#t.rebuilding;
  }

  get [Symbol.toStringTag](): string {
    return 'RouteTable';
  }
}
