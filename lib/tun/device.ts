// A TUN device and its packet path, over the native handle (lib/native.ts).
//
// In:  kernel -> fd -> native ReadBatch into the slab -> one JS call per batch
//      -> onPacketsReceived(batch) (views, no copy) and onPacketReceived(ab)
//      (one ArrayBuffer per packet, as Chrome's API promises).
// Out: sendPackets(array) -> one native call -> write() per packet, straight
//      from the caller's memory; EAGAIN waits for POLLOUT, in order.
// Offloads (on where the kernel has them): the kernel hands over TCP/UDP
// super-packets of up to 64 KiB, one read each; native code splits them into
// the split area before JS sees the batch (one call, wire-size packets)
// unless `superPackets` asks for them as they are. On the way out, runs of one flow's segments are coalesced
// into super-packets and written with writev (native/tun/offload.cc).
import { argTypeError, fromNative, VpnError } from '../errors';
import { ChromeEvent } from '../events';
import {
  COUNTER_NAMES,
  TUN_F,
  native,
  type CounterName,
  type NativeTun,
  type PacketData,
} from '../native';
import { PacketBatch } from './batch';

export interface AddressOptions {
  address: string;
  prefixLength: number;
  peer?: string;
  broadcast?: string;
}

export interface TunDeviceOptions {
  /** Interface name or pattern (`vpn%d`); the kernel picks `tun%d` if not given. */
  name?: string;
  /** MTU to set (default: leave the kernel's 1500). */
  mtu?: number;
  /** Addresses as "198.18.0.1/24" or objects. */
  addresses?: (string | AddressOptions)[];
  /** Bring the link up (default true). */
  up?: boolean;
  /** Length of the kernel's transmit queue towards us (the kernel's default is 500). */
  txQueueLen?: number;
  /**
   * With offloads: the largest super-packet the kernel hands over (default
   * 65536). A tunnel that carries super-packets whole in UDP datagrams wants
   * one that fits, with the 10-byte header: 65000 does.
   */
  gsoMaxSize?: number;
  /** Most packets per batch (default 256). */
  batchSize?: number;
  /** Bytes of the receive slab (default 192 KiB). */
  slabSize?: number;
  /** Keep the process alive while the device is open (default false). */
  ref?: boolean;
  /**
   * Segmentation offloads (IFF_VNET_HDR with checksum, TSO4/6, USO4/6) where
   * the kernel supports them; default true. `device.offloads` says what is
   * in force (null: none, the kernel took none or this was false).
   */
  offload?: boolean;
  /**
   * With offloads: batches hand out super-packets as the kernel gives them
   * (see PacketBatch.gso and .split) instead of wire-size packets (default
   * false). onPacketReceived always gets wire-size packets.
   */
  superPackets?: boolean;
  /** With offloads: bytes of the area super-packets are split into (default 1 MiB). */
  splitSize?: number;
  /**
   * IFF_MULTI_QUEUE: more queues can be attached to this device (see
   * attachQueue), one per worker thread; the kernel spreads flows over them.
   */
  multiQueue?: boolean;
  /**
   * Free bytes kept before each received packet (0..4096, default 0), and
   * after it (`tailroom`): a tunnel writes its own header (and trailer:
   * an authentication tag) around the packet in place, and sends
   * PacketBatch.frame(i) with no copy (UdpSocket.sendFrom).
   */
  headroom?: number;
  tailroom?: number;
}

/** What TunDevice.sendFrom cuts off each entry of a batch. */
export interface TrimOptions {
  /** Bytes before the packet in each entry (the tunnel's header). */
  trimHead?: number;
  /** Bytes after the packet in each entry (the tunnel's trailer). */
  trimTail?: number;
}

/** A batch sendFrom takes: a PacketBatch, a DatagramBatch, or the like. */
export interface EntryBatch {
  readonly data: Uint8Array;
  /** (offset, length) pairs, or (offset, length, sender) triples when stride is 3. */
  readonly meta: Int32Array;
  readonly stride?: number;
  readonly count: number;
}

/** Offloads in force on a device. */
export interface TunOffloads {
  /** TCP super-packets over IPv4 / IPv6 (TSO), both directions. */
  tcp4: boolean;
  tcp6: boolean;
  /** UDP super-packets (USO, Linux 6.2+). */
  udp4: boolean;
  udp6: boolean;
}

export type TunCounters = Record<CounterName, number> & { meanBatch: number };

export interface TunStats extends TunCounters {
  /** Packets the kernel dropped because its queue towards us was full. */
  kernelDrops: number;
}

interface PendingSend {
  /** Writes from `index`; returns the position reached. */
  write: (index: number) => number;
  index: number;
  end: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

// 256: the per-batch cost (epoll, one JS call) falls to ~10 ns a packet;
// 16 costs ~15% of the read loop's throughput (bench/packet, batch sweep).
const DEFAULT_BATCH = 256;
// 192 KiB: 64 KiB kept free for one maximal read, so a batch of 1400-byte
// packets spans ~128 KiB and stays in L2 (512 KiB cost ~15% at 1400 B).
const DEFAULT_SLAB = 192 * 1024;
// With offloads a read can be a 64 KiB super-packet: 1 MiB holds 15 of them.
const DEFAULT_OFFLOAD_SLAB = 1024 * 1024;
const DEFAULT_SPLIT = 1024 * 1024;
// Segments one split round makes at most: the batch size, but room for a
// whole super-packet of small segments (64 KiB of 536-byte TCP ones is 123).
const MIN_SPLIT_SLOTS = 128;

/** Parses "a.b.c.d/n" or "x::y/n" into address options. */
export function parseAddress(spec: string | AddressOptions): AddressOptions {
  if (typeof spec !== 'string') return spec;
  const slash = spec.lastIndexOf('/');
  const address = slash < 0 ? spec : spec.slice(0, slash);
  const bits = address.includes(':') ? 128 : 32;
  const prefixLength = slash < 0 ? bits : Number(spec.slice(slash + 1));
  if (slash >= 0 && !/^\d{1,3}$/.test(spec.slice(slash + 1))) {
    throw new VpnError(`Not an address with a prefix length: "${spec}"`, 'ERR_INVALID_CIDR');
  }
  return { address, prefixLength };
}

export class TunDevice {
  /** Batches of received packets: one call per batch, views valid during the call. */
  readonly onPacketsReceived: ChromeEvent<[PacketBatch]>;
  /** Each received packet in its own ArrayBuffer (a copy). */
  readonly onPacketReceived: ChromeEvent<[ArrayBuffer]>;
  /** A read or write failure (e.g. the interface was deleted); reading stops. */
  readonly onError: ChromeEvent<[Error]>;

  private readonly handle: NativeTun;
  private readonly batch: PacketBatch;
  /** The split area's output (offload devices only). */
  private readonly segments: PacketBatch | null = null;
  private readonly superPackets: boolean;
  /** Packets of the current batch that need split(); 0 outside dispatch. */
  private rawGso = 0;
  private readonly counterBuf = new Float64Array(COUNTER_NAMES.length);
  private readonly pending: PendingSend[] = [];
  private started = false;
  private failed: Error | null = null;

  /** Opens a new TUN device and configures it through rtnetlink. */
  static async open(options: TunDeviceOptions = {}): Promise<TunDevice> {
    let opened;
    try {
      opened = await native.openTun({
        name: options.name,
        offload: options.offload !== false,
        multiQueue: options.multiQueue === true,
      });
    } catch (err) {
      throw fromNative(err);
    }
    const dev = new TunDevice(opened.fd, opened.name, opened.ifindex, options, opened.offloads);
    try {
      for (const a of options.addresses ?? []) {
        await dev.addAddress(a);
      }
      if (
        options.mtu !== undefined ||
        options.txQueueLen !== undefined ||
        options.gsoMaxSize !== undefined ||
        options.up !== false
      ) {
        await dev.setLink({
          mtu: options.mtu,
          txQueueLen: options.txQueueLen,
          gsoMaxSize: options.gsoMaxSize,
          up: options.up !== false,
        });
      }
    } catch (err) {
      dev.close();
      throw err;
    }
    return dev;
  }

  /**
   * Attaches another queue to a multi-queue device opened elsewhere in this
   * process (typically in a worker thread: each queue has its own reader and
   * batches). Configures nothing: the link, addresses and MTU belong to the
   * device. `offload` must match the device's (the kernel keeps one set of
   * flags for all queues). The queue detaches when closed.
   */
  static async attachQueue(
    name: string,
    options: Omit<TunDeviceOptions, 'name' | 'addresses' | 'mtu' | 'up' | 'txQueueLen'> = {},
  ): Promise<TunDevice> {
    let opened;
    try {
      opened = await native.openTun({
        name,
        offload: options.offload !== false,
        multiQueue: true,
      });
    } catch (err) {
      throw fromNative(err);
    }
    return new TunDevice(opened.fd, opened.name, opened.ifindex, options, opened.offloads);
  }

  /**
   * Wraps an fd that is already open and keeps packet boundaries (a TUN fd
   * from elsewhere, or a SOCK_SEQPACKET socket in tests). Takes ownership.
   * `offloads`: the TUN_F_* flags in force if the fd was opened with
   * IFF_VNET_HDR (0: a plain fd).
   */
  static fromFd(
    fd: number,
    options: TunDeviceOptions = {},
    name = '',
    ifindex = 0,
    offloads = 0,
  ): TunDevice {
    return new TunDevice(fd, name, ifindex, options, offloads);
  }

  private constructor(
    fd: number,
    readonly name: string,
    readonly ifindex: number,
    options: TunDeviceOptions,
    offloads: number,
  ) {
    const batchSize = options.batchSize ?? DEFAULT_BATCH;
    const headroom = options.headroom ?? 0;
    const tailroom = options.tailroom ?? 0;
    try {
      this.handle = new native.Tun(fd, {
        headroom,
        tailroom,
        batchSize,
        slabSize: options.slabSize ?? (offloads ? DEFAULT_OFFLOAD_SLAB : DEFAULT_SLAB),
        offloads,
        superPackets: offloads !== 0 && options.superPackets === true,
        splitSize: options.splitSize ?? DEFAULT_SPLIT,
        splitSlots: Math.max(batchSize, MIN_SPLIT_SLOTS),
      });
    } catch (err) {
      // Never close what was not a valid fd (NaN would not be one).
      if (Number.isInteger(fd) && fd >= 0) native.closeFd(fd);
      throw fromNative(err);
    }
    if (options.ref) this.handle.ref();
    this.superPackets = offloads !== 0 && options.superPackets === true;
    const packetBytes = this.handle.meta.byteOffset;
    const splitMeta = this.handle.splitMeta;
    if (splitMeta) {
      this.segments = new PacketBatch(
        this.handle.slab,
        splitMeta,
        packetBytes,
        null,
        null,
        headroom,
        tailroom,
      );
    }
    this.batch = this.superPackets
      ? new PacketBatch(
          this.handle.slab,
          this.handle.meta,
          packetBytes,
          this.handle.gso,
          (each) => (this.rawGso === 0 ? each(this.batch) : this.splitEach(this.batch.count, each)),
          headroom,
          tailroom,
        )
      : new PacketBatch(
          this.handle.slab,
          this.handle.meta,
          packetBytes,
          null,
          null,
          headroom,
          tailroom,
        );
    const watch = () => this.updateReading();
    this.onPacketsReceived = new ChromeEvent('TunDevice.onPacketsReceived', watch);
    this.onPacketReceived = new ChromeEvent('TunDevice.onPacketReceived', watch);
    this.onError = new ChromeEvent('TunDevice.onError');
  }

  /** The fd, or -1 once closed. */
  get fd(): number {
    return this.handle.fd;
  }

  get closed(): boolean {
    return this.handle.closed;
  }

  /** The most packets a batch holds (size arrays passed to classify() by it). */
  get batchSize(): number {
    const split = this.handle.splitMeta;
    return split ? Math.max(this.handle.batchSize, split.length / 2) : this.handle.batchSize;
  }

  /** The offloads in force, or null when there are none. */
  get offloads(): TunOffloads | null {
    const f = this.handle.offloads;
    if (!f) return null;
    return {
      tcp4: (f & TUN_F.TSO4) !== 0,
      tcp6: (f & TUN_F.TSO6) !== 0,
      udp4: (f & TUN_F.USO4) !== 0,
      udp6: (f & TUN_F.USO6) !== 0,
    };
  }

  /** Sends one packet into the system, as if it came out of the tunnel. */
  sendPacket(packet: PacketData): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const packets = [packet];
    const write = (i: number) => this.handle.writeBatch(packets, i, false);
    if (this.pending.length > 0) return this.enqueue(write, 0, 1);
    try {
      // One native write, no array: the queue is only for EAGAIN.
      if (this.handle.write(packet)) return Promise.resolve();
    } catch (err) {
      return Promise.reject(fromNative(err));
    }
    return this.enqueue(write, 0, 1);
  }

  /**
   * Sends many packets in one native call, in order, written straight from
   * their memory (do not change them before the Promise settles). Nothing is
   * written if any packet is invalid; a failed write rejects with err.index.
   * With offloads, runs of one TCP or UDP flow's segments are coalesced into
   * super-packets. `withHeader`: each packet starts with its virtio-net
   * header (PacketBatch.withHeader on the sending side) and is written as is.
   */
  sendPackets(
    packets: readonly PacketData[],
    options: { withHeader?: boolean } = {},
  ): Promise<void> {
    if (!Array.isArray(packets)) {
      return Promise.reject(argTypeError('sendPackets(packets): packets must be an array'));
    }
    const withHeader = options.withHeader === true;
    if (this.failed) return Promise.reject(this.failed);
    const write = (i: number) => this.handle.writeBatch(packets, i, withHeader);
    if (this.pending.length > 0) return this.enqueue(write, 0, packets.length);
    let reached: number;
    try {
      reached = write(0);
    } catch (err) {
      return Promise.reject(fromNative(err));
    }
    if (reached === packets.length) return Promise.resolve();
    return this.enqueue(write, reached, packets.length);
  }

  /**
   * Writes the entries of a batch as packets in one native call, zero-copy:
   * the datagrams of a DatagramBatch with the tunnel's header and trailer
   * cut off (`trimHead`, `trimTail`), say. Dropped entries are skipped, and
   * entries that are no IP packet are left out and counted (txInvalid): a
   * batch from the network is never refused whole. With offloads, runs of
   * one flow are coalesced. If the kernel pushes back, what is left is
   * copied (a batch is valid only during its listener call) and written
   * when the device is writable.
   */
  sendFrom(batch: EntryBatch, options: TrimOptions = {}): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    let write: (i: number) => number;
    try {
      write = this.batchWriter(batch, options);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const count = batch.count;
    if (this.pending.length > 0) return this.enqueue(this.snapshot(batch, options), 0, count);
    let reached: number;
    try {
      reached = write(0);
    } catch (err) {
      return Promise.reject(fromNative(err));
    }
    if (reached >= count) return Promise.resolve();
    return this.enqueue(this.snapshot(batch, options), reached, count);
  }

  /** sendFrom without a Promise: the position reached (less than batch.count on EAGAIN). */
  trySendFrom(batch: EntryBatch, options: TrimOptions = {}, start = 0): number {
    if (this.pending.length > 0) return start;
    try {
      return this.batchWriter(batch, options)(start);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Writes without a Promise: returns how many of packets were written (less
   * than all when the kernel pushes back with EAGAIN; send the rest later).
   * Throws like sendPackets rejects.
   */
  trySendPackets(
    packets: readonly PacketData[],
    start = 0,
    options: { withHeader?: boolean } = {},
  ): number {
    if (this.pending.length > 0) return start;
    try {
      return this.handle.writeBatch(packets, start, options.withHeader === true);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Our counters, read synchronously. */
  counters(): TunCounters {
    this.handle.counters(this.counterBuf);
    const c = {} as TunCounters;
    COUNTER_NAMES.forEach((name, i) => {
      c[name] = this.counterBuf[i];
    });
    c.meanBatch = c.rxBatches > 0 ? c.rxPackets / c.rxBatches : 0;
    return c;
  }

  /** Our counters plus the kernel's drops on the queue towards us. */
  async stats(): Promise<TunStats> {
    const c = this.counters();
    let kernelDrops = 0;
    if (this.ifindex > 0) {
      const info = await this.linkInfo();
      kernelDrops = info.stats.txDropped;
    }
    return { ...c, kernelDrops };
  }

  async linkInfo() {
    try {
      return await native.linkInfo(this.ifindex);
    } catch (err) {
      throw fromNative(err);
    }
  }

  async setLink(change: {
    up?: boolean;
    mtu?: number;
    txQueueLen?: number;
    /** The largest super-packet the kernel hands this device (offloads; default 65536). */
    gsoMaxSize?: number;
    ipv6LinkLocal?: boolean;
  }): Promise<void> {
    const c = Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined));
    try {
      await native.setLink({ ifindex: this.ifindex, ...c });
    } catch (err) {
      throw fromNative(err);
    }
  }

  async addAddress(spec: string | AddressOptions): Promise<void> {
    try {
      await native.addAddress({ ifindex: this.ifindex, ...parseAddress(spec) });
    } catch (err) {
      throw fromNative(err);
    }
  }

  async deleteAddress(spec: string | AddressOptions): Promise<void> {
    try {
      await native.deleteAddress({ ifindex: this.ifindex, ...parseAddress(spec) });
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Keep the process alive while the device is open. */
  ref(): this {
    if (!this.closed) this.handle.ref();
    return this;
  }

  /** Let the process exit even though the device is open (the default). */
  unref(): this {
    if (!this.closed) this.handle.unref();
    return this;
  }

  /** Stop reading; packets wait (and then drop) in the kernel's queue. */
  pause(): void {
    if (this.started && !this.closed) this.handle.pause();
  }

  resume(): void {
    if (this.started && !this.closed) this.updateReading();
  }

  /** Closes the fd (a TUN device of ours disappears with it). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.handle.close();
    const err = new VpnError('The device is closed.', 'ERR_DEVICE_CLOSED');
    for (const p of this.pending.splice(0)) p.reject(err);
    this.onPacketsReceived.clear();
    this.onPacketReceived.clear();
  }

  private updateReading(): void {
    if (this.closed || this.failed) return;
    const want = this.onPacketsReceived.hasListeners() || this.onPacketReceived.hasListeners();
    if (want && !this.started) {
      this.started = true;
      this.handle.start(
        (count, kind, gso) => this.dispatch(count, kind, gso),
        (err) => this.fail(err),
      );
    } else if (this.started) {
      if (want) this.handle.resume();
      else this.handle.pause();
    }
  }

  /**
   * One native call per batch: kind 0 is a batch as read (meta), kind 1 one
   * of wire-size packets split in native code from a batch with
   * super-packets (splitMeta); gso counts the super-packets in a kind 0
   * batch, nonzero only with superPackets.
   */
  private dispatch(count: number, kind: number, gso: number): void {
    const batch = kind === 0 ? this.batch : this.segments!;
    batch.count = count;
    this.rawGso = gso;
    try {
      if (this.onPacketsReceived.hasListeners()) this.onPacketsReceived.dispatch(batch);
      if (this.onPacketReceived.hasListeners()) {
        if (gso === 0) this.dispatchEach(batch);
        else this.splitEach(count, (segments) => this.dispatchEach(segments));
      }
    } finally {
      batch.count = 0;
      this.rawGso = 0;
    }
  }

  /** One ArrayBuffer per packet, as Chrome's API promises: a copy. */
  private dispatchEach(batch: PacketBatch): void {
    // Uint8Array#slice is a fast builtin; ArrayBuffer#slice is ~25% slower.
    const meta = batch.meta;
    const data = batch.data;
    const count = batch.count;
    for (let i = 0; i < count; i++) {
      const off = meta[2 * i];
      const len = meta[2 * i + 1];
      if (len < 0) continue; // dropped by an onPacketsReceived listener
      this.onPacketReceived.dispatch(data.slice(off, off + len).buffer);
    }
  }

  /** superPackets: splits packets [0, count) of the current batch, round by round. */
  private splitEach(count: number, each: (segments: PacketBatch) => void): void {
    const segments = this.segments!;
    let start = 0;
    while (start < count && !this.closed) {
      const r = this.handle.split(start);
      const consumed = Math.floor(r / 65536);
      segments.count = r % 65536;
      try {
        if (segments.count > 0) each(segments);
      } finally {
        segments.count = 0;
      }
      if (consumed === 0) break;
      start += consumed;
    }
  }

  private fail(err: Error): void {
    this.failed = fromNative(err);
    for (const p of this.pending.splice(0)) p.reject(this.failed);
    if (this.onError.hasListeners()) {
      this.onError.dispatch(this.failed);
    }
  }

  private batchWriter(batch: EntryBatch, o: TrimOptions): (i: number) => number {
    if (typeof o !== 'object' || o === null) {
      throw argTypeError('options must be an object');
    }
    const { data, meta, count } = batch ?? {};
    if (
      !(data instanceof Uint8Array) ||
      !(meta instanceof Int32Array) ||
      typeof count !== 'number'
    ) {
      throw argTypeError('batch must be a PacketBatch or a DatagramBatch');
    }
    const stride = strideOf(batch);
    const head = o.trimHead ?? 0;
    const tail = o.trimTail ?? 0;
    return (i) => this.handle.writeFrom(data, meta, stride, count, i, head, tail);
  }

  /** A writer over a copy of a batch's entries (their trimmed packets). */
  private snapshot(batch: EntryBatch, o: TrimOptions): (i: number) => number {
    const stride = strideOf(batch);
    const head = o.trimHead ?? 0;
    const tail = o.trimTail ?? 0;
    const packets: Uint8Array[] = [];
    for (let i = 0; i < batch.count; i++) {
      const off = batch.meta[stride * i];
      const len = batch.meta[stride * i + 1];
      packets.push(
        len < 0
          ? new Uint8Array(0)
          : batch.data.slice(off + head, off + Math.max(head, len - tail)),
      );
    }
    const data = new Uint8Array(packets.reduce((n, p) => n + p.length, 0));
    const meta = new Int32Array(2 * packets.length);
    let at = 0;
    packets.forEach((p, i) => {
      data.set(p, at);
      meta[2 * i] = at;
      meta[2 * i + 1] = batch.meta[stride * i + 1] < 0 ? -1 : p.length;
      at += p.length;
    });
    const count = packets.length;
    return (i) => this.handle.writeFrom(data, meta, 2, count, i, 0, 0);
  }

  private enqueue(write: (i: number) => number, index: number, end: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ write, index, end, resolve, reject });
      if (this.pending.length === 1) this.handle.waitWritable(() => this.drain());
    });
  }

  private drain(): void {
    while (this.pending.length > 0 && !this.closed) {
      const p = this.pending[0];
      try {
        p.index = p.write(p.index);
      } catch (err) {
        this.pending.shift();
        p.reject(fromNative(err));
        continue;
      }
      if (p.index < p.end) {
        this.handle.waitWritable(() => this.drain());
        return;
      }
      this.pending.shift();
      p.resolve();
    }
  }
}

/** Int32s per entry of a batch's meta: 2, or 3 for a DatagramBatch. */
function strideOf(batch: EntryBatch): number {
  return batch.stride === 3 ? 3 : 2;
}
