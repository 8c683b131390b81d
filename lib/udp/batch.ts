// A batch of received datagrams: views into the socket's receive memory,
// valid only during the listener call that hands it out (the next batch
// reuses the memory). With UDP_GRO the kernel hands over runs of datagrams
// from one sender as one message; they are described here one by one.
import { PEER_SIZE, UdpPeer, recordAddress, recordPort } from './peer';

export class DatagramBatch {
  /** Datagrams in this batch; 0 once the listener call is over. */
  count = 0;
  /** Int32s per datagram in meta: (offset, length, sender). */
  readonly stride = 3;
  /** The whole receive memory; datagram i is data[offset(i) .. + length(i)). */
  readonly data: Uint8Array;
  private senders: (UdpPeer | undefined)[] = [];

  constructor(
    readonly buffer: ArrayBuffer,
    /** (offset, length, sender) triples: meta[3i], meta[3i + 1], meta[3i + 2]. */
    readonly meta: Int32Array,
    /** The senders' 24-byte records, indexed by meta[3i + 2]. */
    readonly peers: Uint8Array,
  ) {
    this.data = new Uint8Array(buffer, 0, meta.byteOffset);
  }

  /** Datagram i as a Uint8Array view (no copy). */
  datagram(i: number): Uint8Array {
    this.check(i);
    return new Uint8Array(this.buffer, this.meta[3 * i], this.meta[3 * i + 1]);
  }

  offset(i: number): number {
    this.check(i);
    return this.meta[3 * i];
  }

  length(i: number): number {
    this.check(i);
    return this.meta[3 * i + 1];
  }

  /** Datagram i copied into its own ArrayBuffer. */
  copy(i: number): ArrayBuffer {
    const off = this.offset(i);
    return this.data.slice(off, off + this.meta[3 * i + 1]).buffer;
  }

  /** Who sent datagram i (one object per sender and batch). */
  sender(i: number): UdpPeer {
    this.check(i);
    const m = this.meta[3 * i + 2];
    let p = this.senders[m];
    if (!p) {
      p = new UdpPeer(this.peers.subarray(m * PEER_SIZE, (m + 1) * PEER_SIZE));
      this.senders[m] = p;
    }
    return p;
  }

  /** The sender's address, without making a UdpPeer. */
  address(i: number): string {
    this.check(i);
    return recordAddress(this.peers, this.meta[3 * i + 2] * PEER_SIZE);
  }

  port(i: number): number {
    this.check(i);
    return recordPort(this.peers, this.meta[3 * i + 2] * PEER_SIZE);
  }

  /**
   * Leaves datagram i out of sends made from this batch (a datagram that
   * failed its check, say): sendFrom and writeFrom skip it.
   */
  drop(i: number): void {
    this.check(i);
    this.meta[3 * i + 1] = -1;
  }

  /** @internal */
  reset(count: number): void {
    this.count = count;
    if (this.senders.length) this.senders = [];
  }

  private check(i: number): void {
    if (i >= 0 && i < this.count) return;
    const e = new RangeError(
      this.count === 0
        ? 'This batch is no longer valid: datagrams are views that live only during the listener call.'
        : `Datagram index ${i} is out of range (the batch has ${this.count}).`,
    );
    throw Object.assign(e, { code: 'ERR_OUT_OF_RANGE' });
  }
}
