// A batched UDP socket, over the native handle (lib/native.ts): the other
// half of a VPN's packet path, shaped like TunDevice.
//
// In:  kernel -> recvmmsg() into the socket's memory (UDP_GRO: runs of
//      datagrams from one sender as one message) -> one JS call per batch
//      -> onDatagrams(batch) (views, no copy) and onMessage(ab, sender).
// Out: sendDatagrams(array) / sendFrom(batch) -> one native call ->
//      sendmmsg(), runs of one size to one peer as one UDP_SEGMENT message,
//      straight from the caller's memory; EAGAIN waits for POLLOUT, in order.
// ICMP errors about a destination (port or host unreachable) come as
// onPeerError and never stop the socket.
import { coded, fromNative, SystemError, VpnError } from '../errors';
import { ChromeEvent } from '../events';
import {
  native,
  UDP_COUNTER_NAMES,
  type NativePeerError,
  type NativeUdp,
  type OpenUdpOptions,
  type PacketData,
  type UdpCounterName,
} from '../native';
import type { PacketBatch } from '../tun/batch';
import { DatagramBatch } from './batch';
import { PEER_SIZE, PeerTable, UdpPeer } from './peer';

// The kernel's default socket buffers (~208 KiB) drop bursts: a tunnel of
// two processes on Node's dgram lost 31% of a 1 Gbit/s UDP load with them,
// 16% with 4 MiB (PERF-NOTES). As root the size is taken as asked
// (SO_RCVBUFFORCE); otherwise the kernel caps it at rmem_max / wmem_max.
const DEFAULT_BUFFER = 4 << 20;

export interface UdpSocketOptions extends OpenUdpOptions {
  /** Keep the process alive while the socket is open (default false). */
  ref?: boolean;
}

export interface UdpOffloads {
  /** UDP_GRO: runs of same-size datagrams arrive as one message. */
  gro: boolean;
  /** UDP_SEGMENT: runs of same-size datagrams go as one message. */
  gso: boolean;
}

/** An error the network reported about one destination; the socket goes on. */
export interface UdpPeerError {
  /** ECONNREFUSED (port unreachable), EHOSTUNREACH, ENETUNREACH, EMSGSIZE... */
  error: SystemError;
  /** The destination it concerns, when the kernel says. */
  peer: UdpPeer | null;
  /** EMSGSIZE: the path MTU the kernel learnt. */
  mtu?: number;
}

export type UdpCounters = Record<UdpCounterName, number>;

/** Where the datagrams of a sendFrom go. */
export type SendTarget =
  | UdpPeer
  /** Each datagram of a DatagramBatch back to its sender. */
  | 'sender'
  /** Entry i to table record index[i] (negative: not sent), e.g. a RouteTable's classify() output. */
  | { table: PeerTable; index: Int32Array };

export interface SendFromOptions {
  /** Default: the connected peer ('sender' for nothing else on a DatagramBatch). */
  to?: SendTarget;
  /** Bytes before each entry that belong to the datagram (a header written in place). */
  headroom?: number;
  /** Bytes after each entry that belong to the datagram (a tag written in place). */
  tailroom?: number;
}

/** A batch that sendFrom takes: a TUN PacketBatch or a DatagramBatch. */
type AnyBatch = PacketBatch | DatagramBatch;

interface Pending {
  /** Sends from `start`; returns the position reached. */
  send: (start: number) => number;
  start: number;
  end: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

const invalid = (message: string, code = 'ERR_INVALID_ARG_TYPE') =>
  coded(new TypeError(message), code);

function peerError(e: NativePeerError): UdpPeerError {
  const peer = e.record[0] === 0 ? null : new UdpPeer(e.record);
  const what = peer ? `to ${peer.toString()}` : 'to a peer';
  const error = new SystemError(
    `A datagram ${what} was refused by the network (${e.code})`,
    e.code,
    e.errno,
    'sendmmsg',
  );
  return { error, peer, ...(e.code === 'EMSGSIZE' && e.info ? { mtu: e.info } : {}) };
}

export class UdpSocket {
  /** Batches of received datagrams: one call per batch, views valid during the call. */
  readonly onDatagrams: ChromeEvent<[DatagramBatch]>;
  /** Each received datagram in its own ArrayBuffer (a copy), with its sender. */
  readonly onMessage: ChromeEvent<[ArrayBuffer, UdpPeer]>;
  /** The socket failed (reading stops); sends reject. */
  readonly onError: ChromeEvent<[Error]>;
  /** The network refused a datagram to one destination; the socket goes on. */
  readonly onPeerError: ChromeEvent<[UdpPeerError]>;
  /** Every queued send went out after the kernel pushed back. */
  readonly onDrain: ChromeEvent<[]>;
  /** The bound address and port. */
  readonly local: UdpPeer;

  private readonly handle: NativeUdp;
  private readonly state: Uint32Array;
  private readonly batch: DatagramBatch;
  private readonly counterBuf = new Float64Array(UDP_COUNTER_NAMES.length);
  private readonly pending: Pending[] = [];
  private started = false;
  private failed: Error | null = null;
  private readonly connected: boolean;

  /** Opens and binds a socket (dual-stack "udp6" unless type "udp4"). */
  static async open(options: UdpSocketOptions = {}): Promise<UdpSocket> {
    return new UdpSocket(options);
  }

  private constructor(options: UdpSocketOptions) {
    if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
    try {
      this.handle = new native.Udp({
        ...options,
        recvBufferSize: options.recvBufferSize ?? DEFAULT_BUFFER,
        sendBufferSize: options.sendBufferSize ?? DEFAULT_BUFFER,
      });
    } catch (err) {
      throw fromNative(err);
    }
    if (options.ref) this.handle.ref();
    this.connected = options.connect !== undefined;
    this.state = this.handle.state;
    this.local = new UdpPeer(this.handle.local);
    this.batch = new DatagramBatch(this.handle.buffer, this.handle.meta, this.handle.peers);
    const watch = () => this.updateReading();
    this.onDatagrams = new ChromeEvent('UdpSocket.onDatagrams', watch);
    this.onMessage = new ChromeEvent('UdpSocket.onMessage', watch);
    this.onPeerError = new ChromeEvent('UdpSocket.onPeerError', watch);
    this.onError = new ChromeEvent('UdpSocket.onError');
    this.onDrain = new ChromeEvent('UdpSocket.onDrain');
  }

  get fd(): number {
    return this.handle.fd;
  }

  get closed(): boolean {
    return this.handle.closed;
  }

  /** 4 for a "udp4" socket, 6 for a "udp6" one (which reaches IPv4 peers too). */
  get family(): 4 | 6 {
    return this.handle.family;
  }

  /** The offloads in force (GSO goes off for good if the device cannot checksum). */
  get offloads(): UdpOffloads {
    const f = this.handle.offloads;
    return { gro: (f & 1) !== 0, gso: (f & 2) !== 0 };
  }

  /** Datagrams waiting for the kernel to take them (backpressure). */
  get queued(): number {
    let n = 0;
    for (const p of this.pending) n += p.end - p.start;
    return n;
  }

  /** A peer to send to: the address and port checked once. */
  peer(address: string, port: number): UdpPeer {
    try {
      return new UdpPeer(address, port);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Sends one datagram (to the connected peer when `to` is not given). */
  send(datagram: PacketData, to?: UdpPeer): Promise<void> {
    return this.sendDatagrams([datagram], to);
  }

  /**
   * Sends datagrams in order, in one native call, straight from their
   * memory (do not change them before the Promise settles): to one peer,
   * to one peer each, or to the connected peer. Nothing is sent if any is
   * invalid; a failed send rejects with err.index. Errors about one
   * destination go to onPeerError instead, and the rest are sent.
   */
  sendDatagrams(
    datagrams: readonly PacketData[],
    to?: UdpPeer | readonly UdpPeer[],
  ): Promise<void> {
    let send: (start: number) => number;
    try {
      send = this.arraySender(datagrams, to);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.run(send, datagrams.length, null);
  }

  /** sendDatagrams without a Promise: the position reached (less than all on EAGAIN). */
  trySendDatagrams(
    datagrams: readonly PacketData[],
    to?: UdpPeer | readonly UdpPeer[],
    start = 0,
  ): number {
    if (this.pending.length > 0) return start;
    const reached = this.arraySender(datagrams, to)(start);
    this.reportSendErrors();
    return reached;
  }

  /**
   * Sends the entries of a batch as datagrams, zero-copy: the packets of a
   * TUN PacketBatch (with the room the device keeps around them, where a
   * tunnel has written its header and trailer in place), or the datagrams
   * of a DatagramBatch (back to their senders with `to: 'sender'`). Dropped
   * entries are skipped. If the kernel pushes back, what is left is copied
   * (the batch is valid only during its listener call) and sent when the
   * socket is writable.
   */
  sendFrom(batch: AnyBatch, options: SendFromOptions = {}): Promise<void> {
    let send: (start: number) => number;
    try {
      send = this.batchSender(batch, options);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.run(send, batch.count, () => this.snapshot(batch, options));
  }

  /** sendFrom without a Promise: the position reached (less than batch.count on EAGAIN). */
  trySendFrom(batch: AnyBatch, options: SendFromOptions = {}, start = 0): number {
    if (this.pending.length > 0) return start;
    const reached = this.batchSender(batch, options)(start);
    this.reportSendErrors();
    return reached;
  }

  counters(): UdpCounters {
    this.handle.counters(this.counterBuf);
    const c = {} as UdpCounters;
    UDP_COUNTER_NAMES.forEach((name, i) => {
      c[name] = this.counterBuf[i];
    });
    return c;
  }

  /** Keep the process alive while the socket is open. */
  ref(): this {
    if (!this.closed) this.handle.ref();
    return this;
  }

  /** Let the process exit though the socket is open (the default). */
  unref(): this {
    if (!this.closed) this.handle.unref();
    return this;
  }

  /** Stop reading; datagrams wait (and then drop) in the kernel's queue. */
  pause(): void {
    if (this.started && !this.closed) this.handle.pause();
  }

  resume(): void {
    if (this.started && !this.closed) this.updateReading();
  }

  /** Closes the socket; queued sends reject. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.handle.close();
    const err = new VpnError('The socket is closed.', 'ERR_SOCKET_CLOSED');
    for (const p of this.pending.splice(0)) p.reject(err);
    this.onDatagrams.clear();
    this.onMessage.clear();
    this.onPeerError.clear();
  }

  // ------------------------------------------------------------ inside

  private arraySender(
    datagrams: readonly PacketData[],
    to: UdpPeer | readonly UdpPeer[] | undefined,
  ): (start: number) => number {
    if (!Array.isArray(datagrams)) throw invalid('datagrams must be an array');
    let peers: Uint8Array | null = null;
    let index: Int32Array | null = null;
    if (to === undefined && !this.connected) {
      throw Object.assign(new Error('The socket is not connected: say which peer to send to.'), {
        code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED',
      });
    }
    if (to instanceof UdpPeer) {
      peers = to.record;
    } else if (Array.isArray(to)) {
      if (to.length !== datagrams.length)
        throw invalid('to must hold one peer per datagram', 'ERR_INVALID_ARG_VALUE');
      peers = new Uint8Array(to.length * PEER_SIZE);
      index = new Int32Array(to.length);
      to.forEach((p: unknown, i) => {
        if (!(p instanceof UdpPeer)) throw invalid(`to[${i}] is not a UdpPeer`);
        peers!.set(p.record, i * PEER_SIZE);
        index![i] = i;
      });
    } else if (to !== undefined) {
      throw invalid('to must be a UdpPeer or an array of them');
    }
    return (start) => {
      try {
        return this.handle.sendArray(datagrams, start, peers, index);
      } catch (err) {
        throw fromNative(err);
      }
    };
  }

  private batchSender(batch: AnyBatch, o: SendFromOptions): (start: number) => number {
    if (typeof o !== 'object' || o === null) throw invalid('options must be an object');
    if (!isBatch(batch)) throw invalid('batch must be a PacketBatch or a DatagramBatch');
    const isDatagrams = batch.stride === 3;
    const stride = isDatagrams ? 3 : 2;
    const headroom = o.headroom ?? 0;
    const tailroom = o.tailroom ?? 0;
    let peers: Uint8Array | null = null;
    let index: Int32Array | null = null;
    const to = o.to ?? (isDatagrams && !this.connected ? 'sender' : undefined);
    if (to === 'sender') {
      if (!isDatagrams)
        throw invalid("to: 'sender' needs a DatagramBatch", 'ERR_INVALID_ARG_VALUE');
      peers = (batch as DatagramBatch).peers;
    } else if (to instanceof UdpPeer) {
      peers = to.record;
    } else if (to !== undefined) {
      if (
        typeof to !== 'object' ||
        !(to.table instanceof PeerTable) ||
        !(to.index instanceof Int32Array)
      )
        throw invalid("to must be a UdpPeer, 'sender' or { table, index }");
      peers = to.table.records;
      index = to.index;
    }
    const data = batch.data;
    const meta = batch.meta;
    const count = batch.count;
    return (start) => {
      try {
        return this.handle.sendFrom(
          data,
          meta,
          stride,
          count,
          start,
          headroom,
          tailroom,
          peers,
          index,
          to === 'sender',
        );
      } catch (err) {
        throw fromNative(err);
      }
    };
  }

  /** A sender over a copy of what is left of a batch (from `start`). */
  private snapshot(batch: AnyBatch, o: SendFromOptions): (start: number) => number {
    const stride = batch.stride === 3 ? 3 : 2;
    const head = o.headroom ?? 0;
    const tail = o.tailroom ?? 0;
    const count = batch.count;
    const meta = new Int32Array(stride * count);
    let size = 0;
    for (let i = 0; i < count; i++) {
      const len = batch.meta[stride * i + 1];
      if (len >= 0) size += head + len + tail;
    }
    const data = new Uint8Array(size);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const off = batch.meta[stride * i];
      const len = batch.meta[stride * i + 1];
      meta[stride * i + 1] = len;
      if (stride === 3) meta[3 * i + 2] = batch.meta[3 * i + 2];
      if (len < 0) continue;
      data.set(batch.data.subarray(off - head, off + len + tail), at);
      meta[stride * i] = at + head;
      at += head + len + tail;
    }
    let peers: Uint8Array | null = null;
    let index: Int32Array | null = null;
    const to = o.to ?? (stride === 3 && !this.connected ? 'sender' : undefined);
    if (to === 'sender') peers = (batch as DatagramBatch).peers.slice();
    else if (to instanceof UdpPeer) peers = to.record;
    else if (to) {
      peers = to.table.records.slice();
      index = to.index.slice(0, count);
    }
    return (start) => {
      try {
        return this.handle.sendFrom(
          data,
          meta,
          stride,
          count,
          start,
          head,
          tail,
          peers,
          index,
          to === 'sender',
        );
      } catch (err) {
        throw fromNative(err);
      }
    };
  }

  private run(
    send: (start: number) => number,
    end: number,
    snapshot: (() => (start: number) => number) | null,
  ): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed)
      return Promise.reject(new VpnError('The socket is closed.', 'ERR_SOCKET_CLOSED'));
    let reached = 0;
    if (this.pending.length === 0) {
      try {
        reached = send(0);
      } catch (err) {
        this.reportSendErrors();
        return Promise.reject(err as Error);
      }
      this.reportSendErrors();
      if (reached >= end) return Promise.resolve();
    }
    const later = snapshot ? snapshot() : send;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ send: later, start: reached, end, resolve, reject });
      if (this.pending.length === 1) this.handle.waitWritable(() => this.drain());
    });
  }

  private drain(): void {
    while (this.pending.length > 0 && !this.closed) {
      const p = this.pending[0];
      try {
        p.start = p.send(p.start);
      } catch (err) {
        this.pending.shift();
        p.reject(err as Error);
        continue;
      } finally {
        this.reportSendErrors();
      }
      if (p.start < p.end) {
        this.handle.waitWritable(() => this.drain());
        return;
      }
      this.pending.shift();
      p.resolve();
    }
    if (this.pending.length === 0) this.onDrain.dispatch();
  }

  private reportSendErrors(): void {
    // state[0]: errors waiting, kept current by the native side (no call).
    if (this.state[0] === 0 || this.closed) return;
    const errs = this.handle.takeSendErrors();
    if (errs) this.peerErrors(errs);
  }

  private peerErrors(errs: NativePeerError[]): void {
    if (!this.onPeerError.hasListeners()) return;
    for (const e of errs) this.onPeerError.dispatch(peerError(e));
  }

  private updateReading(): void {
    if (this.closed || this.failed) return;
    const want =
      this.onDatagrams.hasListeners() ||
      this.onMessage.hasListeners() ||
      this.onPeerError.hasListeners();
    if (want && !this.started) {
      this.started = true;
      this.handle.start(
        (count) => this.dispatch(count),
        (err) => this.fail(err),
        (errs) => this.peerErrors(errs),
      );
      if (!this.onDatagrams.hasListeners() && !this.onMessage.hasListeners()) this.handle.pause();
    } else if (this.started) {
      if (this.onDatagrams.hasListeners() || this.onMessage.hasListeners()) this.handle.resume();
      else this.handle.pause();
    }
  }

  private dispatch(count: number): void {
    const batch = this.batch;
    batch.reset(count);
    try {
      if (this.onDatagrams.hasListeners()) this.onDatagrams.dispatch(batch);
      if (this.onMessage.hasListeners()) {
        const meta = batch.meta;
        for (let i = 0; i < count; i++) {
          const len = meta[3 * i + 1];
          if (len < 0) continue; // dropped by an onDatagrams listener
          this.onMessage.dispatch(batch.copy(i), batch.sender(i));
        }
      }
    } finally {
      batch.reset(0);
    }
  }

  private fail(err: Error): void {
    this.failed = fromNative(err);
    for (const p of this.pending.splice(0)) p.reject(this.failed);
    if (this.onError.hasListeners()) this.onError.dispatch(this.failed);
  }
}

function isBatch(b: unknown): b is AnyBatch {
  const x = b as AnyBatch;
  return (
    typeof x === 'object' &&
    x !== null &&
    x.meta instanceof Int32Array &&
    x.data instanceof Uint8Array &&
    typeof x.count === 'number'
  );
}
