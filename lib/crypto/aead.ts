// Batched authenticated encryption (native/crypto/aead.h): a key held in
// native memory seals or opens every packet of a batch in place, in one
// native call, each with its own 64-bit counter nonce and its own verdict.
// A tunnel seals a TUN PacketBatch where it lies (the tag goes in the
// tailroom the device keeps, the counter in its headroom) and sends it with
// UdpSocket.sendFrom; it opens a DatagramBatch where it lies and writes it
// with TunDevice.sendFrom. Nothing is allocated per packet.
//
// Nonce: 4 zero bytes then the counter little-endian (RFC 8439, WireGuard);
// no associated data; a 16-byte tag after the ciphertext. The ciphers are
// the OpenSSL that Node carries.
import { argTypeError, coded, fromNative, VpnError } from '../errors';
import { native } from '../native';
import type { NativeAeadKey, NativeReplayWindow } from '../native';

export type AeadAlgorithm = 'chacha20-poly1305' | 'aes-256-gcm';

/** Bytes of the authentication tag. */
export const TAG_SIZE = 16;

/** What happened to each packet (the numbers a verdicts array holds). */
export const Verdict = {
  /** Sealed, or opened and authentic. */
  ok: 0,
  /** Open: the tag did not verify (forged, corrupt, or the wrong key). */
  auth: 1,
  /** Shorter than a tag (and header), or a header outside the batch. */
  short: 2,
  /** Open: a counter seen before, or older than the replay window. */
  replay: 3,
  /** The counter reached the key's limit: the key must be replaced. */
  limit: 4,
  /** Seal: no room after the packet for its padding and tag. */
  noRoom: 5,
  /** Open with trimToIp: the plaintext is no IP packet. */
  notIp: 6,
  /** Open: authentic but empty (a keepalive). */
  empty: 7,
  /** The entry was dropped before the call (left as it was). */
  skipped: 8,
} as const;
export type VerdictName = keyof typeof Verdict;
const NAMES = Object.keys(Verdict) as VerdictName[];

/** The verdict number's name ('auth' for 1...). */
export function verdictName(v: number): VerdictName | undefined {
  return NAMES[v];
}

/** A batch as the package hands them out (PacketBatch, DatagramBatch, or your own). */
export interface CryptBatch {
  readonly data: Uint8Array;
  /** (offset, length, ...) per entry, `stride` int32s each (default 2). */
  readonly meta: Int32Array;
  readonly stride?: number;
  readonly count: number;
  /** Free bytes after each entry (a PacketBatch's). */
  readonly tailroom?: number;
}

interface Common {
  /** Only these entries (indices into the batch); default: all. */
  entries?: Int32Array;
  /** verdicts[i]: what happened to entry i (a Verdict number); count entries at least. */
  verdicts?: Uint8Array;
}

export interface SealOptions extends Common {
  /**
   * Write each packet's counter (8 bytes, little-endian) this many bytes
   * before it, in the headroom: -8 puts it right before the packet. Default:
   * not written.
   */
  counterAt?: number;
  /** Zero-pad each plaintext to a multiple of this before sealing (default 1: none; WireGuard: 16). */
  pad?: number;
  /** Free bytes after each entry for padding and tag (default: the batch's tailroom, else 16). */
  tailroom?: number;
  /** Receives the counter each sealed entry used. */
  counters?: BigUint64Array;
}

export interface OpenOptions extends Common {
  /** Where the counter is, in bytes from the start of each entry (a header). */
  counterAt?: number;
  /** Each entry's counter, when it is not in the entry (then also an output with counterAt). */
  counters?: BigUint64Array;
  /** Bytes of header before the ciphertext: the opened entry starts past them. */
  skip?: number;
  /** Refuse replays: checked before, updated after authentication. */
  replay?: ReplayWindow;
  /** Cut each plaintext to the length its IP header states (drops padding); else verdict notIp. */
  trimToIp?: boolean;
}

export interface AeadKeyOptions {
  /** The first counter seal uses (default 0n). */
  next?: bigint;
  /**
   * Counters at or past this are refused, sealing and opening (verdict
   * limit). Default 2^64 - 2^13 - 1, WireGuard's REJECT_AFTER_MESSAGES.
   */
  limit?: bigint;
}

const DEFAULT_LIMIT = 2n ** 64n - 2n ** 13n - 1n;

function checkCall(batch: unknown, options: unknown, call: string): void {
  if (typeof batch !== 'object' || batch === null)
    throw argTypeError(`${call}: batch must be a batch ({ data, meta, count })`);
  if (typeof options !== 'object' || options === null)
    throw argTypeError(`${call}: options must be an object`);
}

/**
 * A 32-byte key in native memory, with its send counter. `close()` frees it
 * (the cipher contexts are wiped); so does garbage collection, later.
 */
export class AeadKey {
  readonly algorithm: AeadAlgorithm;
  private handle: NativeAeadKey | null;

  constructor(algorithm: AeadAlgorithm, key: Uint8Array, options: AeadKeyOptions = {}) {
    if (typeof options !== 'object' || options === null)
      throw argTypeError('options must be an object');
    if (algorithm !== 'chacha20-poly1305' && algorithm !== 'aes-256-gcm') {
      throw coded(
        new TypeError(`algorithm must be 'chacha20-poly1305' or 'aes-256-gcm'`),
        'ERR_CRYPTO_INVALID_ALGORITHM',
      );
    }
    this.algorithm = algorithm;
    try {
      this.handle = new native.AeadKey(
        algorithm,
        key,
        options.next ?? 0n,
        options.limit ?? DEFAULT_LIMIT,
      );
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** The counter the next sealed packet gets. */
  get nextCounter(): bigint {
    return this.live().next();
  }

  /**
   * Seals the batch's entries in place: each plaintext is padded and
   * encrypted, its tag written after it, its length grown to cover them
   * (send with the headroom that holds your header). Entries that cannot be
   * sealed are dropped (length -1) with their verdict. Returns how many
   * were sealed.
   */
  seal(batch: CryptBatch, options: SealOptions = {}): number {
    const h = this.live();
    checkCall(batch, options, 'seal');
    const stride = batch.stride ?? 2;
    try {
      return h.seal(
        batch.data,
        batch.meta,
        stride,
        batch.count,
        options.entries ?? null,
        options.verdicts ?? null,
        options.counters ?? null,
        options.counterAt ?? 0,
        options.pad ?? 1,
        options.tailroom ?? batch.tailroom ?? TAG_SIZE,
      );
    } catch (err) {
      throw fromNative(err);
    }
  }

  /**
   * Opens the batch's entries in place: each becomes its plaintext (offset
   * past the header, length without the tag); entries that are forged,
   * replayed or short are dropped (length -1) with their verdict, so a
   * TunDevice.sendFrom of the batch writes the authentic ones only.
   * Returns how many were opened.
   */
  open(batch: CryptBatch, options: OpenOptions = {}): number {
    const h = this.live();
    checkCall(batch, options, 'open');
    const counterAt = options.counterAt ?? -1;
    try {
      return h.open(
        batch.data,
        batch.meta,
        batch.stride ?? 2,
        batch.count,
        options.entries ?? null,
        options.verdicts ?? null,
        options.counters ?? null,
        counterAt,
        options.skip ?? 0,
        replayHandle(options.replay),
        options.trimToIp === true,
      );
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** Frees the key now; any later call throws ERR_KEY_CLOSED. */
  close(): void {
    this.handle?.close();
    this.handle = null;
  }

  get closed(): boolean {
    return this.handle === null;
  }

  private live(): NativeAeadKey {
    if (!this.handle) throw new VpnError('This key is closed.', 'ERR_KEY_CLOSED');
    return this.handle;
  }
}

function replayHandle(r: unknown): NativeReplayWindow | null {
  if (r === undefined || r === null) return null;
  if (!(r instanceof ReplayWindow)) throw argTypeError('replay must be a ReplayWindow');
  return r.handle;
}

/**
 * An anti-replay window (RFC 6479: a sliding bitmap of 8128 counters, in
 * native memory). AeadKey.open uses it for a whole batch; check/update are
 * for packets handled one at a time.
 */
export class ReplayWindow {
  /** @internal */
  readonly handle: NativeReplayWindow = new native.ReplayWindow();
  /** Counters this far behind the highest seen are refused as too old. */
  static readonly size = 8128;

  /** Whether `counter` would be accepted now. */
  check(counter: bigint): boolean {
    return this.handle.check(counter);
  }

  /** Marks `counter` as seen (after its packet authenticated). */
  update(counter: bigint): void {
    this.handle.update(counter);
  }

  /** The highest counter seen, or null before the first. */
  get last(): bigint | null {
    return this.handle.last();
  }

  reset(): void {
    this.handle.reset();
  }
}
