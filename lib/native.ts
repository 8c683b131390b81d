// The whole native surface, typed, in one place. Every other TS file imports
// the addon through this file, never from the .node file.
import * as path from 'node:path';

/** Memory a packet can be given in: an ArrayBuffer or any view on one. */
export type PacketData = ArrayBuffer | ArrayBufferView;

// ---------------------------------------------------------------- TUN device

export interface OpenTunOptions {
  /** Interface name, or a pattern with %d; the kernel picks `tun%d` if empty. */
  name?: string;
  multiQueue?: boolean;
  /** IFF_VNET_HDR with checksum, TSO4/6 and USO4/6 offloads, as many as the kernel takes. */
  offload?: boolean;
  /** At most these TUN_F_* flags (tests: the fallback paths). */
  offloadMask?: number;
}

export interface TunReaderOptions {
  /** Most packets delivered to JS in one batch. */
  batchSize: number;
  /** Bytes of a receive slab (at least batchSize small packets + one 64 KiB packet). */
  slabSize: number;
  /** TUN_F_* offloads in force on an IFF_VNET_HDR fd (OpenedTun.offloads); 0 or absent: none. */
  offloads?: number;
  /** With offloads: hand super-packets to JS whole (dispatch gso > 0) instead of split. */
  superPackets?: boolean;
  /** With offloads: bytes of the area super-packets are split into. */
  splitSize?: number;
  /** With offloads: most segments one split call makes. */
  splitSlots?: number;
  /** Free bytes kept before / after each packet read or split (0..4096). */
  headroom?: number;
  tailroom?: number;
}

/** TUN_F_* flags (linux/if_tun.h). */
export const TUN_F = { CSUM: 0x01, TSO4: 0x02, TSO6: 0x04, USO4: 0x20, USO6: 0x40 } as const;

/** What `openTun` resolves with: an open, non-blocking, close-on-exec TUN fd. */
export interface OpenedTun {
  fd: number;
  name: string;
  ifindex: number;
  /** TUN_F_* offloads in force (0: a plain fd without a virtio-net header). */
  offloads: number;
}

/**
 * Native side of a TUN device (or of any packet fd: tests hand it one end of
 * a SOCK_SEQPACKET socketpair). Receives in batches on the loop's own thread.
 */
export interface NativeTun {
  readonly fd: number;
  /** Receive slab: packets of the current batch are views into it. */
  readonly slab: ArrayBuffer;
  /** meta[2i] = offset, meta[2i+1] = length of packet i of the current batch. */
  readonly meta: Int32Array;
  /**
   * With offloads: packet i's virtio-net header at gso[8i..8i+6): flags,
   * gso type, header length, gso size, checksum start, checksum offset.
   */
  readonly gso: Uint16Array | null;
  /** With offloads: (offset, length) of the segments the last split() made. */
  readonly splitMeta: Int32Array | null;
  /** TUN_F_* flags in force. */
  readonly offloads: number;
  readonly batchSize: number;
  /**
   * Start reading: `dispatch(count, kind, gso)` once per batch: kind 0, the
   * packets as read (meta), gso of them super-packets or needing their
   * checksum (superPackets only); kind 1, wire-size packets split in native
   * code from a batch that held super-packets (splitMeta). `onError` once,
   * then reading stops.
   */
  start(
    dispatch: (count: number, kind: number, gso: number) => void,
    onError: (err: NativeError) => void,
  ): void;
  /**
   * superPackets, during a kind 0 dispatch: splits packets [start..count)
   * of it into wire-size packets (splitMeta); returns consumed * 65536 +
   * segments made.
   */
  split(start: number): number;
  pause(): void;
  resume(): void;
  ref(): void;
  unref(): void;
  /** Writes one packet: true when written, false on EAGAIN; throws on any other failure. */
  write(packet: PacketData): boolean;
  /**
   * Validates packets[start..] and writes them in order. Returns the index
   * reached: packets.length when all were written, less on EAGAIN. Throws on
   * a bad packet (nothing written) or a failed write (err.index says where).
   */
  writeBatch(packets: readonly PacketData[], start: number, withHeader?: boolean): number;
  /**
   * Writes entries [start..count) of a batch: data[meta[s*i] + trimHead,
   * meta[s*i] + meta[s*i+1] - trimTail) for stride s; negative lengths are
   * skipped, entries that are no IP packet left out (txInvalid). Returns
   * the position reached (less than count on EAGAIN).
   */
  writeFrom(
    data: Uint8Array,
    meta: Int32Array,
    stride: number,
    count: number,
    start: number,
    trimHead: number,
    trimTail: number,
  ): number;
  /** Calls `cb` once when the fd is writable again. */
  waitWritable(cb: () => void): void;
  /** Fills `out` with the counters, in the order of COUNTER_NAMES. */
  counters(out: Float64Array): void;
  close(): void;
  readonly closed: boolean;
}

export const COUNTER_NAMES = [
  'rxPackets',
  'rxBytes',
  'rxBatches',
  'rxFullBatches',
  'txPackets',
  'txBytes',
  'txBatches',
  'txEagain',
  'readErrors',
  'writeErrors',
  'rxSuperPackets',
  'rxSegments',
  'txSuperPackets',
  'gsoErrors',
  'txInvalid',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

// ---------------------------------------------------------------- UDP socket

export interface OpenUdpOptions {
  /** "udp6" (default: dual-stack unless ipv6Only) or "udp4". */
  type?: 'udp4' | 'udp6';
  ipv6Only?: boolean;
  /** Address to bind (default: the wildcard). */
  address?: string;
  /** Port to bind (default 0: the kernel picks one). */
  port?: number;
  /** The one peer: datagrams from others are not received. */
  connect?: { address: string; port: number };
  reusePort?: boolean;
  /** SO_MARK: a firewall mark that policy routing can match (CAP_NET_ADMIN). */
  mark?: number;
  /** SO_BINDTODEVICE. */
  device?: string;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** UDP_GRO and UDP_SEGMENT where the kernel has them (default true). */
  offload?: boolean;
  gro?: boolean;
  gso?: boolean;
  /** Messages one recvmmsg() takes (default 32). */
  batchSize?: number;
  /** Without GRO: the largest datagram received whole (default 65535). */
  maxDatagramSize?: number;
}

/** An error the network reported about one destination (ICMP, no route). */
export interface NativePeerError {
  errno: number;
  code: string;
  /** The destination, as a 24-byte peer record. */
  record: Uint8Array;
  /** EMSGSIZE: the path MTU the kernel learnt; else 0. */
  info: number;
}

/**
 * Native side of a UDP socket. Receives in batches on the loop's own
 * thread: meta[3i..3i+3) = offset, length and peer (message index) of
 * datagram i; peers holds a 24-byte record per message (family at 0, port
 * as a host-order u16 at 2, address at 4..20, scope id at 20).
 */
export interface NativeUdp {
  readonly fd: number;
  readonly closed: boolean;
  readonly family: 4 | 6;
  /** The bound address as a peer record. */
  readonly local: Uint8Array;
  readonly buffer: ArrayBuffer;
  readonly meta: Int32Array;
  readonly peers: Uint8Array;
  /** state[0]: send errors waiting for takeSendErrors(). */
  readonly state: Uint32Array;
  /** 1: GRO in force, 2: GSO in force. */
  readonly offloads: number;
  start(
    dispatch: (count: number) => void,
    onError: (err: NativeError) => void,
    onPeerErrors: (errors: NativePeerError[]) => void,
  ): void;
  pause(): void;
  resume(): void;
  ref(): void;
  unref(): void;
  /**
   * Sends datagrams[start..] in order; returns the position reached (less
   * than datagrams.length on EAGAIN). Peers: records (24 bytes each); datagram
   * i goes to record index[i] (negative: skipped), else record 0, else the
   * connected peer.
   */
  sendArray(
    datagrams: readonly PacketData[],
    start: number,
    peers?: Uint8Array | null,
    index?: Int32Array | null,
  ): number;
  /**
   * Sends the entries of a batch: entry i is data[meta[s*i] - before,
   * meta[s*i] + meta[s*i+1] + after) for stride s (2 or 3); negative
   * lengths are skipped. Peer of entry i: record index[i] (negative:
   * skipped), else with `column` record meta[3i+2], else record 0, else
   * the connected peer.
   */
  sendFrom(
    data: Uint8Array,
    meta: Int32Array,
    stride: number,
    count: number,
    start: number,
    before: number,
    after: number,
    peers?: Uint8Array | null,
    index?: Int32Array | null,
    column?: boolean,
  ): number;
  takeSendErrors(): NativePeerError[] | undefined;
  waitWritable(cb: () => void): void;
  counters(out: Float64Array): void;
  close(): void;
}

export const UDP_COUNTER_NAMES = [
  'rxDatagrams',
  'rxBytes',
  'rxBatches',
  'rxCalls',
  'rxGro',
  'rxTruncated',
  'rxKernelDrops',
  'txDatagrams',
  'txBytes',
  'txCalls',
  'txGso',
  'txEagain',
  'rxErrors',
  'txErrors',
  'peerErrors',
] as const;
export type UdpCounterName = (typeof UDP_COUNTER_NAMES)[number];

// ------------------------------------------------------------------ netlink

export interface LinkChange {
  ifindex: number;
  up?: boolean;
  mtu?: number;
  txQueueLen?: number;
  /** The largest super-packet the kernel hands the device (offloads), 1280..65536. */
  gsoMaxSize?: number;
  /** false: no IPv6 link-local address on the link (addr_gen_mode none). */
  ipv6LinkLocal?: boolean;
}

export interface AddressSpec {
  ifindex: number;
  /** IPv4 or IPv6 address, as text. */
  address: string;
  prefixLength: number;
  /** Point-to-point peer (IFA_ADDRESS), if any. */
  peer?: string;
  /** IPv4 broadcast, if any. */
  broadcast?: string;
}

/** Route types for changeRoutes: through the device, fall through, drop. */
export const ROUTE_UNICAST = 1;
export const ROUTE_THROW = 2;
export const ROUTE_BLACKHOLE = 3;
/** RTN_PROHIBIT: refused, the sender gets EACCES. */
export const ROUTE_PROHIBIT = 4;

export interface RouteChange {
  table: number;
  add: boolean;
  /** "10.0.0.0/8", "2001:db8::/32"... */
  cidrs: readonly string[];
  /** One of ROUTE_UNICAST, ROUTE_THROW, ROUTE_BLACKHOLE, ROUTE_PROHIBIT per cidr. */
  types: Uint8Array;
  /** The device of unicast routes. */
  ifindex?: number;
}

export interface RuleSpec {
  family: 4 | 6;
  table: number;
  priority: number;
  /** Selects packets with this firewall mark (all 32 bits)... */
  fwmark?: number;
  /** ...or, with invert, those without it (`not fwmark`). */
  invert?: boolean;
  /** Instead of a lookup: go on at the first rule of this priority (table is then ignored). */
  goto?: number;
  /** Only sockets of these uids, inclusive. */
  uidRange?: [number, number];
}

export interface LinkInfo {
  ifindex: number;
  name: string;
  mtu: number;
  flags: number;
  up: boolean;
  txQueueLen: number;
  stats: {
    rxPackets: number;
    txPackets: number;
    rxBytes: number;
    txBytes: number;
    rxDropped: number;
    txDropped: number;
    rxErrors: number;
    txErrors: number;
  };
}

// ---------------------------------------------------------------- route table
// (declared by the route-table work; native/binding/route_binding.cc)

/** What a bulk load reports: entries given, new prefixes, replaced values, masked entries. */
export interface NativeBulkReport {
  count: number;
  added: number;
  replaced: number;
  /** Entries with host bits set (e.g. 10.1.2.3/8), masked to their network. */
  masked: number;
  /** Indexes of the first (up to 100) masked entries. */
  maskedIndex: number[];
  /** Their text, as given. */
  maskedText: string[];
}

/**
 * Native longest-prefix-match table (lib/route wraps it). Values are
 * integers 0..2^31-1; -1 means "no match". Everything is synchronous except
 * buildAsync.
 */
/** native/binding/crypto_binding.cc */
export interface NativeAeadKey {
  seal(
    data: Uint8Array,
    meta: Int32Array,
    stride: number,
    count: number,
    entries: Int32Array | null,
    verdicts: Uint8Array | null,
    counters: BigUint64Array | null,
    counterAt: number,
    pad: number,
    tailroom: number,
  ): number;
  open(
    data: Uint8Array,
    meta: Int32Array,
    stride: number,
    count: number,
    entries: Int32Array | null,
    verdicts: Uint8Array | null,
    counters: BigUint64Array | null,
    counterAt: number,
    skip: number,
    replay: NativeReplayWindow | null,
    trimToIp: boolean,
  ): number;
  next(): bigint;
  close(): void;
}

export interface NativeReplayWindow {
  check(counter: bigint): boolean;
  update(counter: bigint): void;
  reset(): void;
  last(): bigint | null;
}

export interface NativeRouteTable {
  /** True when the prefix is new, false when its value was replaced. */
  insert(cidr: string, value: number): boolean;
  delete(cidr: string): boolean;
  /** Exact match: the value of this very prefix, or -1. */
  get(cidr: string): number;
  lookup(address: string | number): number;
  /** lookup() for an IPv4 address as an unsigned 32-bit number, unchecked. */
  lookup4(address: number): number;
  lookupPrefix(address: string | number): [string, number] | null;
  lookupBatch4(addresses: Uint32Array, out: Int32Array): number;
  /** addresses: 16 bytes per IPv6 address, network byte order. */
  lookupBatch6(addresses: Uint8Array, out: Int32Array): number;
  classify(data: Uint8Array, meta: Int32Array, count: number, out: Int32Array): number;
  /**
   * text: `count` CIDRs joined by '\n' (a string, or its UTF-8 bytes; with
   * bytes, count -1 takes every line, a final '\n' allowed); values: one per
   * entry, or one for all.
   */
  insertMany(
    text: string | Uint8Array,
    count: number,
    values: Int32Array | number,
  ): NativeBulkReport;
  clear(): void;
  /** [cidrs, values] of every entry, IPv4 first, each sorted. */
  entries(): [string[], Int32Array];
  readonly size: number;
  readonly size4: number;
  readonly size6: number;
  /** Bytes of the lookup structure. */
  readonly bytes: number;
  /** Bytes of the control-plane trie. */
  readonly controlBytes: number;
  /** True while lookups answer from the control-plane trie (a rebuild on a worker). */
  readonly rebuilding: boolean;
}

export interface NativeRouteTableClass {
  new (): NativeRouteTable;
  /**
   * Parses and builds a new table on a worker thread. text: as insertMany
   * (a Uint8Array is copied first), or the text in UTF-8 pieces of whole
   * entries, joined by '\n' on the worker, kept alive and unmodified until
   * the promise settles.
   */
  buildAsync(
    text: string | Uint8Array | Uint8Array[],
    count: number,
    values: Int32Array | number,
  ): Promise<[NativeRouteTable, NativeBulkReport]>;
  /** Canonical text of a CIDR (host bits masked); throws on a bad one. */
  normalize(cidr: string): string;
}

// ------------------------------------------------------------- the addon

export interface NativeError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
  index?: number;
}

export interface Addon {
  napiVersion: number;
  openTun(options: OpenTunOptions): Promise<OpenedTun>;
  Tun: new (fd: number, options: TunReaderOptions) => NativeTun;
  setLink(change: LinkChange): Promise<void>;
  deleteLink(link: { ifindex: number }): Promise<void>;
  addAddress(spec: AddressSpec): Promise<void>;
  deleteAddress(spec: AddressSpec): Promise<void>;
  linkInfo(ifindex: number): Promise<LinkInfo>;
  linkIndex(name: string): number;
  /** Adds (replacing) or deletes routes, in batched netlink messages. */
  changeRoutes(change: RouteChange): Promise<void>;
  /** Deletes every route of a table, both families; resolves how many. */
  flushTable(spec: { table: number }): Promise<number>;
  addRule(rule: RuleSpec): Promise<void>;
  deleteRule(rule: RuleSpec): Promise<void>;
  /** Deletes every rule that looks up the table; resolves how many. */
  /** Rules that look up `table`, and with `priority` every rule at it. */
  flushRules(spec: { table: number; priority?: number }): Promise<number>;
  /** Every policy rule of both families, synchronously. */
  listRules(): RuleSpec[];
  /**
   * The rules that look up the table, then its routes, removed synchronously
   * (for an 'exit' hook); returns how many rules.
   */
  flushRoutingSync(spec: { table: number; priority?: number }): number;
  /** Calls onChange() (once per wake-up) when links or routes change; unref'd. */
  Monitor: new (onChange: () => void) => { close(): void };
  /** The main table's default route of a family (lowest metric), or null. */
  defaultRoute(
    family: 4 | 6,
  ): Promise<{ ifindex: number; metric: number; gateway?: string } | null>;
  /** Opens (0600) and flock()s path exclusively, without blocking; throws EAGAIN if held. */
  lockFile(path: string): number;
  unlockFile(fd: number): void;
  /** SO_MARK on a socket fd (CAP_NET_ADMIN). */
  setSocketMark(fd: number, mark: number): void;
  /** The credentials of a connected Unix socket's peer (SO_PEERCRED). */
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  /** For tests: a non-blocking, close-on-exec SOCK_SEQPACKET pair. */
  socketpair(): [number, number];
  closeFd(fd: number): void;
  /** TUNSETPERSIST on a TUN fd: whether the device outlives its last fd (synchronous). */
  setTunPersist(fd: number, on: boolean): void;
  // --- route table ---
  RouteTable: NativeRouteTableClass;
  Udp: new (options: OpenUdpOptions) => NativeUdp;
  // --- crypto ---
  AeadKey: new (algorithm: string, key: Uint8Array, next: bigint, limit: bigint) => NativeAeadKey;
  ReplayWindow: new () => NativeReplayWindow;
  /** The 24-byte record of a peer (checked: an IP address and a port from 1). */
  udpPeer(address: string, port: number): Uint8Array;
}

/**
 * Why the addon did not load, and what to do, per cause (sharp's install
 * errors are the model): the message a user sees names the remedy for their
 * case instead of a list of every possible one.
 */
export function addonLoadError(
  err: unknown,
  env: {
    override?: string;
    platform: string;
    arch: string;
    execArgv: readonly string[];
  },
): Error {
  const e = err as NodeJS.ErrnoException;
  const text = String(e?.message ?? err).split('\n')[0];
  const where = `${env.platform}-${env.arch}`;
  let why: string;
  if (env.execArgv.includes('--no-addons') || e?.code === 'ERR_DLOPEN_DISABLED') {
    why = 'Node runs with --no-addons, which forbids every native addon: run it without that flag';
  } else if (env.platform !== 'linux') {
    why = `it is Linux-only (TUN devices, rtnetlink): this is ${where}`;
  } else if (/GLIBC(XX)?_[\d.]+'? not found/.test(text)) {
    const need = /(GLIBC(?:XX)?_[\d.]+)/.exec(text)?.[1];
    why =
      `this system's C library is older than the addon needs (${need}): ` +
      'build it here with `npm rebuild vpn-provider` (python3, make and g++), ' +
      'or run on a distribution as new as Debian 12 / Ubuntu 22.04';
  } else if (env.override) {
    why = `VPN_PROVIDER_ADDON=${env.override} does not load: point it at a built vpn_provider.node, or unset it`;
  } else if (/No native build was found/.test(text)) {
    why =
      `no prebuilt addon ships for ${where}${/musl/.test(text) ? ' with musl' : ''} and none was built: ` +
      '`npm rebuild vpn-provider` builds it (needs python3, make and g++; npm 11 first wants ' +
      '`npm install-scripts approve vpn-provider`)';
  } else {
    why = 'rebuild it with `npm rebuild vpn-provider` (needs python3, make and g++)';
  }
  return Object.assign(
    new Error(`vpn-provider: could not load its native addon: ${why}. (${text})`, {
      cause: err,
    }),
    { code: 'ERR_ADDON_LOAD' },
  );
}

function load(): Addon {
  const override = process.env.VPN_PROVIDER_ADDON;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (override) return require(path.resolve(override)) as Addon;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const build = require('node-gyp-build') as (dir: string) => Addon;
    return build(path.join(__dirname, '..'));
  } catch (err) {
    throw addonLoadError(err, {
      override,
      platform: process.platform,
      arch: process.arch,
      execArgv: process.execArgv,
    });
  }
}

let addon: Addon | null = null;

/** The addon, loaded on first use (so that the command-line tool, which only talks to a socket, never loads it). */
export function loadNative(): Addon {
  return (addon ??= load());
}

/** True once something has used the addon (a test checks the CLI never does). */
export function nativeLoaded(): boolean {
  return addon !== null;
}

/**
 * The addon's functions and classes, loaded on first access: importing this
 * module costs nothing. Assignments go to the loaded addon (tests replace
 * functions on it).
 */
export const native: Addon = new Proxy({} as Addon, {
  get: (_t, key) => Reflect.get(loadNative(), key),
  set: (_t, key, value) => Reflect.set(loadNative(), key, value),
  has: (_t, key) => Reflect.has(loadNative(), key),
});
