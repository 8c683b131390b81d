// A UDP peer: an address and a port, checked once and kept as the 24-byte
// record the native side reads (family at 0, port as a host-order u16 at 2,
// the address in network order at 4..20, an IPv6 scope id at 20), so that
// sending to it parses nothing. A PeerTable is many such records: with an
// index per datagram (a RouteTable's classify() output, say), one send goes
// to many peers.
import { native } from '../native';
import { rangeError } from '../errors';

export const PEER_SIZE = 24;

function formatV6(b: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[at + 2 * i] << 8) | b[at + 2 * i + 1]);
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** The address of a peer record as text. */
export function recordAddress(rec: Uint8Array, at = 0): string {
  if (rec[at] === 4) return `${rec[at + 4]}.${rec[at + 5]}.${rec[at + 6]}.${rec[at + 7]}`;
  if (rec[at] === 6) return formatV6(rec, at + 4);
  return '';
}

export function recordPort(rec: Uint8Array, at = 0): number {
  return rec[at + 2] | (rec[at + 3] << 8);
}

export class UdpPeer {
  /** The 24-byte record (do not change it). */
  readonly record: Uint8Array;
  private text: string | null = null;

  /** Checks address (IPv4 or IPv6 text) and port (1..65535). */
  constructor(address: string, port: number);
  /** A copy of a record (internal). */
  constructor(record: Uint8Array);
  constructor(a: string | Uint8Array, port?: number) {
    this.record = typeof a === 'string' ? native.udpPeer(a, port as number) : a.slice(0, PEER_SIZE);
  }

  get family(): 4 | 6 {
    return this.record[0] as 4 | 6;
  }

  get address(): string {
    this.text ??= recordAddress(this.record);
    return this.text;
  }

  get port(): number {
    return recordPort(this.record);
  }

  /** Same address, port and scope. */
  equals(other: UdpPeer): boolean {
    for (let i = 0; i < PEER_SIZE; i++) if (this.record[i] !== other.record[i]) return false;
    return true;
  }

  /** "198.51.100.1:51820" or "[2001:db8::1]:51820". */
  toString(): string {
    return this.family === 6 ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`;
  }
}

/** Many peers, by index: for sends whose datagrams go to different peers. */
export class PeerTable {
  readonly records: Uint8Array;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 20) {
      throw rangeError('capacity must be an integer from 1 to 1048576');
    }
    this.records = new Uint8Array(capacity * PEER_SIZE);
  }

  set(index: number, peer: UdpPeer | null): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.capacity) {
      throw rangeError(`index ${index} is outside the table`);
    }
    if (peer) this.records.set(peer.record, index * PEER_SIZE);
    else this.records.fill(0, index * PEER_SIZE, (index + 1) * PEER_SIZE);
  }

  get(index: number): UdpPeer | null {
    const at = index * PEER_SIZE;
    if (!(index >= 0 && index < this.capacity) || this.records[at] === 0) return null;
    return new UdpPeer(this.records.subarray(at, at + PEER_SIZE));
  }
}
