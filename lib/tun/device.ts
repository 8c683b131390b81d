// A TUN device and its packet path, over the native handle (lib/native.ts).
//
// In:  kernel -> fd -> native ReadBatch into the slab -> one JS call per batch
//      -> onPacketsReceived(batch) (views, no copy) and onPacketReceived(ab)
//      (one ArrayBuffer per packet, as Chrome's API promises).
// Out: sendPackets(array) -> one native call -> write() per packet, straight
//      from the caller's memory; EAGAIN waits for POLLOUT, in order.
import { fromNative, VpnError } from '../errors';
import { ChromeEvent } from '../events';
import {
  COUNTER_NAMES,
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
  /** Most packets per batch (default 256). */
  batchSize?: number;
  /** Bytes of the receive slab (default 192 KiB). */
  slabSize?: number;
  /** Keep the process alive while the device is open (default false). */
  ref?: boolean;
}

export type TunCounters = Record<CounterName, number> & { meanBatch: number };

export interface TunStats extends TunCounters {
  /** Packets the kernel dropped because its queue towards us was full. */
  kernelDrops: number;
}

interface PendingSend {
  packets: readonly PacketData[];
  index: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

// 256: the per-batch cost (epoll, one JS call) falls to ~10 ns a packet;
// 16 costs ~15% of the read loop's throughput (bench/packet, batch sweep).
const DEFAULT_BATCH = 256;
// 192 KiB: 64 KiB kept free for one maximal read, so a batch of 1400-byte
// packets spans ~128 KiB and stays in L2 (512 KiB cost ~15% at 1400 B).
const DEFAULT_SLAB = 192 * 1024;

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
  private readonly counterBuf = new Float64Array(COUNTER_NAMES.length);
  private readonly pending: PendingSend[] = [];
  private started = false;
  private failed: Error | null = null;

  /** Opens a new TUN device and configures it through rtnetlink. */
  static async open(options: TunDeviceOptions = {}): Promise<TunDevice> {
    let opened;
    try {
      opened = await native.openTun({ name: options.name });
    } catch (err) {
      throw fromNative(err);
    }
    const dev = new TunDevice(opened.fd, opened.name, opened.ifindex, options);
    try {
      for (const a of options.addresses ?? []) {
        await dev.addAddress(a);
      }
      if (options.mtu !== undefined || options.txQueueLen !== undefined || options.up !== false) {
        await dev.setLink({
          mtu: options.mtu,
          txQueueLen: options.txQueueLen,
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
   * Wraps an fd that is already open and keeps packet boundaries (a TUN fd
   * from elsewhere, or a SOCK_SEQPACKET socket in tests). Takes ownership.
   */
  static fromFd(fd: number, options: TunDeviceOptions = {}, name = '', ifindex = 0): TunDevice {
    return new TunDevice(fd, name, ifindex, options);
  }

  private constructor(
    fd: number,
    readonly name: string,
    readonly ifindex: number,
    options: TunDeviceOptions,
  ) {
    try {
      this.handle = new native.Tun(fd, {
        batchSize: options.batchSize ?? DEFAULT_BATCH,
        slabSize: options.slabSize ?? DEFAULT_SLAB,
      });
    } catch (err) {
      native.closeFd(fd);
      throw fromNative(err);
    }
    if (options.ref) this.handle.ref();
    this.batch = new PacketBatch(this.handle.slab, this.handle.meta);
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

  get batchSize(): number {
    return this.handle.batchSize;
  }

  /** Sends one packet into the system, as if it came out of the tunnel. */
  sendPacket(packet: PacketData): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.pending.length > 0) return this.enqueue([packet], 0);
    try {
      // One native write, no array: the queue is only for EAGAIN.
      if (this.handle.write(packet)) return Promise.resolve();
    } catch (err) {
      return Promise.reject(fromNative(err));
    }
    return this.enqueue([packet], 0);
  }

  /**
   * Sends many packets in one native call, in order, written straight from
   * their memory (do not change them before the Promise settles). Nothing is
   * written if any packet is invalid; a failed write rejects with err.index.
   */
  sendPackets(packets: readonly PacketData[]): Promise<void> {
    if (!Array.isArray(packets)) {
      return Promise.reject(
        Object.assign(new TypeError('sendPackets(packets): packets must be an array'), {
          code: 'ERR_INVALID_ARG_TYPE',
        }),
      );
    }
    if (this.failed) return Promise.reject(this.failed);
    if (this.pending.length > 0) return this.enqueue(packets, 0);
    let reached: number;
    try {
      reached = this.handle.writeBatch(packets, 0);
    } catch (err) {
      return Promise.reject(fromNative(err));
    }
    if (reached === packets.length) return Promise.resolve();
    return this.enqueue(packets, reached);
  }

  /**
   * Writes without a Promise: returns how many of packets were written (less
   * than all when the kernel pushes back with EAGAIN; send the rest later).
   * Throws like sendPackets rejects.
   */
  trySendPackets(packets: readonly PacketData[], start = 0): number {
    if (this.pending.length > 0) return start;
    try {
      return this.handle.writeBatch(packets, start);
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
        (count) => this.dispatch(count),
        (err) => this.fail(err),
      );
    } else if (this.started) {
      if (want) this.handle.resume();
      else this.handle.pause();
    }
  }

  private dispatch(count: number): void {
    const batch = this.batch;
    batch.count = count;
    try {
      if (this.onPacketsReceived.hasListeners()) this.onPacketsReceived.dispatch(batch);
      if (this.onPacketReceived.hasListeners()) {
        // One ArrayBuffer per packet, as Chrome's API promises: a copy.
        // Uint8Array#slice is a fast builtin; ArrayBuffer#slice is ~25% slower.
        const meta = batch.meta;
        const data = batch.data;
        for (let i = 0; i < count; i++) {
          const off = meta[2 * i];
          this.onPacketReceived.dispatch(data.slice(off, off + meta[2 * i + 1]).buffer);
        }
      }
    } finally {
      batch.count = 0;
    }
  }

  private fail(err: Error): void {
    this.failed = fromNative(err);
    for (const p of this.pending.splice(0)) p.reject(this.failed);
    if (this.onError.hasListeners()) {
      this.onError.dispatch(this.failed);
    }
  }

  private enqueue(packets: readonly PacketData[], index: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ packets, index, resolve, reject });
      if (this.pending.length === 1) this.handle.waitWritable(() => this.drain());
    });
  }

  private drain(): void {
    while (this.pending.length > 0 && !this.closed) {
      const p = this.pending[0];
      try {
        p.index = this.handle.writeBatch(p.packets, p.index);
      } catch (err) {
        this.pending.shift();
        p.reject(fromNative(err));
        continue;
      }
      if (p.index < p.packets.length) {
        this.handle.waitWritable(() => this.drain());
        return;
      }
      this.pending.shift();
      p.resolve();
    }
  }
}
