// A batch of received packets: views into the device's receive slab, valid
// only during the listener call that hands it out (the next batch reuses the
// slab). Copy what you keep: `batch.packet(i).slice()`.
//
// On a device with offloads (TunDevice `superPackets: true`), a packet may be
// a TCP or UDP super-packet of up to 64 KiB (gso(i) describes it), or have
// its L4 checksum left unfinished; split() hands out the same packets as
// wire-size ones with valid checksums, split in native code.

export type GsoType = 'tcp4' | 'tcp6' | 'udp';

/** The virtio-net header of a received packet, parsed. */
export interface GsoInfo {
  /** The kind of super-packet, or null for a wire-size packet. */
  type: GsoType | null;
  /** Payload bytes of each segment (all but the last), 0 if not a super-packet. */
  size: number;
  /** Bytes of IP and TCP/UDP headers (as the kernel states it). */
  headerLength: number;
  /** The L4 checksum is not finished: the field holds the pseudo-header sum. */
  needsChecksum: boolean;
  /** Where checksumming starts (the L4 header) and the field's offset from there. */
  checksumStart: number;
  checksumOffset: number;
}

const GSO_TYPES: Record<number, GsoType> = { 1: 'tcp4', 4: 'tcp6', 5: 'udp' };

export class PacketBatch {
  /** Packets in this batch; 0 once the listener call is over. */
  count = 0;
  /** Int32s per packet in meta: (offset, length). */
  readonly stride = 2;
  /** The whole receive slab; packet i is data[offset(i) .. offset(i) + length(i)). */
  readonly data: Uint8Array;

  constructor(
    readonly buffer: ArrayBuffer,
    /** (offset, length) pairs: meta[2i], meta[2i + 1]. */
    readonly meta: Int32Array,
    /** Bytes of buffer that packets may occupy (default: up to meta). */
    dataLength: number = meta.byteOffset,
    /** Raw virtio-net headers, 8 uint16 a packet (superPackets batches only). */
    readonly gsoMeta: Uint16Array | null = null,
    private readonly splitter: ((each: (segments: PacketBatch) => void) => void) | null = null,
    /** Free bytes the device keeps before each packet (TunDeviceOptions.headroom). */
    readonly headroom = 0,
    /** Free bytes the device keeps after each packet (TunDeviceOptions.tailroom). */
    readonly tailroom = 0,
  ) {
    this.data = new Uint8Array(buffer, 0, dataLength);
  }

  /** Packet i as a Uint8Array view (no copy). */
  packet(i: number): Uint8Array {
    if (!(i >= 0 && i < this.count)) this.outOfRange(i);
    return new Uint8Array(this.buffer, this.meta[2 * i], this.meta[2 * i + 1]);
  }

  offset(i: number): number {
    if (!(i >= 0 && i < this.count)) this.outOfRange(i);
    return this.meta[2 * i];
  }

  length(i: number): number {
    if (!(i >= 0 && i < this.count)) this.outOfRange(i);
    return this.meta[2 * i + 1];
  }

  /**
   * Packet i with the room the device keeps around it (a view, no copy):
   * `headroom` free bytes, the packet, `tailroom` free bytes. A tunnel
   * writes its header and trailer there and sends the frame as it is
   * (UdpSocket.sendFrom with the same room): no copy of the packet.
   */
  frame(i: number): Uint8Array {
    if (!(i >= 0 && i < this.count)) this.outOfRange(i);
    const off = this.meta[2 * i] - this.headroom;
    return new Uint8Array(this.buffer, off, this.meta[2 * i + 1] + this.headroom + this.tailroom);
  }

  /** Leaves packet i out of sends made from this batch (sendFrom skips it). */
  drop(i: number): void {
    if (!(i >= 0 && i < this.count)) this.outOfRange(i);
    this.meta[2 * i + 1] = -1;
  }

  /** Packet i copied into its own ArrayBuffer. */
  copy(i: number): ArrayBuffer {
    const off = this.offset(i);
    return this.data.slice(off, off + this.meta[2 * i + 1]).buffer;
  }

  /**
   * Packet i with its 10-byte virtio-net header in front (a view, no copy):
   * what a tunnel carries to a peer that writes it with
   * `sendPackets(packets, { withHeader: true })`. superPackets batches only.
   */
  withHeader(i: number): Uint8Array {
    if (!(i >= 0 && i < this.count)) this.outOfRange(i);
    if (!this.gsoMeta) {
      const e = new Error('Only batches of a superPackets device carry virtio-net headers.');
      (e as Error & { code: string }).code = 'ERR_NO_OFFLOAD';
      throw e;
    }
    return new Uint8Array(this.buffer, this.meta[2 * i] - 10, this.meta[2 * i + 1] + 10);
  }

  /**
   * Packet i's offload header, or null when it is a plain wire-size packet
   * (always null on batches without offloads, and on split() output).
   */
  gso(i: number): GsoInfo | null {
    if (!(i >= 0 && i < this.count)) this.outOfRange(i);
    const g = this.gsoMeta;
    if (!g || (g[8 * i] === 0 && g[8 * i + 1] === 0)) return null;
    return {
      type: GSO_TYPES[g[8 * i + 1] & 0x7f] ?? null,
      size: g[8 * i + 3],
      headerLength: g[8 * i + 2],
      needsChecksum: (g[8 * i] & 1) !== 0,
      checksumStart: g[8 * i + 4],
      checksumOffset: g[8 * i + 5],
    };
  }

  /**
   * Calls `each` with the packets of this batch as wire-size packets with
   * valid checksums (super-packets split in native code, one call per
   * round; usually one round, more when the split area fills). Batches that
   * hold none are passed as they are. Valid only during the listener call.
   */
  split(each: (segments: PacketBatch) => void): void {
    if (this.count === 0) this.outOfRange(0);
    if (this.splitter) this.splitter(each);
    else each(this);
  }

  private outOfRange(i: number): never {
    const e = new RangeError(
      this.count === 0
        ? 'This batch is no longer valid: packets are views that live only during the listener call.'
        : `Packet index ${i} is out of range (the batch has ${this.count}).`,
    );
    (e as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
    throw e;
  }
}
