// A batch of received packets: views into the device's receive slab, valid
// only during the listener call that hands it out (the next batch reuses the
// slab). Copy what you keep: `batch.packet(i).slice()`.

export class PacketBatch {
  /** Packets in this batch; 0 once the listener call is over. */
  count = 0;
  /** The whole receive slab; packet i is data[offset(i) .. offset(i) + length(i)). */
  readonly data: Uint8Array;

  constructor(
    readonly buffer: ArrayBuffer,
    /** (offset, length) pairs: meta[2i], meta[2i + 1]. */
    readonly meta: Int32Array,
  ) {
    this.data = new Uint8Array(buffer, 0, meta.byteOffset);
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

  /** Packet i copied into its own ArrayBuffer. */
  copy(i: number): ArrayBuffer {
    const off = this.offset(i);
    return this.data.slice(off, off + this.meta[2 * i + 1]).buffer;
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
