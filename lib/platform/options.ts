// The platform's options and the checks of what callers hand it: names,
// ids, interface names, enums. Checked when the platform is made, so that a
// bad option fails at once, not at the first connect.
import type { DnsOption } from './dns';
import type { RoutingOptions } from './routing';
import { argTypeError, argValueError, rangeError } from '../errors';
import { checkInterfaceName } from './names';

export interface PlatformOptions {
  /** Where configurations live (default: /var/lib/vpn-provider as root, else under XDG_STATE_HOME). */
  stateDir?: string;
  /** How long after "connected" setParameters may take (default 5 minutes). */
  connectTimeoutMs?: number;
  /** Name pattern of the session's TUN device (default "vpn%d"). */
  interfaceName?: string;
  /** Where warnings go (default console.warn). */
  log?: (line: string) => void;
  /** The session's routing table id and the priority of its rule (default 30100 and 30100). */
  routing?: Partial<RoutingOptions>;
  /**
   * DNS: "auto" (default) uses systemd-resolved when it runs, else rewrites
   * /etc/resolv.conf and restores it; { resolvConf: path } uses that file;
   * false leaves DNS alone.
   */
  dns?: DnsOption;
  /** Serve the control socket in the state directory for the CLI (default true). */
  controlSocket?: boolean;
  /**
   * Segmentation offloads on the session's TUN device where the kernel has
   * them (default true): fewer, larger reads and writes; the packets the
   * provider sees are wire-size either way, unless superPackets.
   */
  offload?: boolean;
  /**
   * With offloads: onPacketsReceived batches hand out super-packets whole
   * (PacketBatch.gso, withHeader, split), for a tunnel that carries them to
   * a peer that writes them with sendPackets(p, { withHeader: true }).
   * onPacketReceived stays wire-size. Default false.
   */
  superPackets?: boolean;
  /** With offloads: the largest super-packet (IFLA_GSO_MAX_SIZE). */
  gsoMaxSize?: number;
  /**
   * Free bytes the session's device keeps before and after each packet it
   * hands the provider (0..4096, default 0): a tunnel writes its header
   * and trailer there, in place, and sends PacketBatch.frame(i) without a
   * copy (UdpSocket.sendFrom with the same room).
   */
  headroom?: number;
  tailroom?: number;
  /**
   * While a session is active, end it on SIGTERM and SIGINT, then end the
   * process with the signal when nothing else listens for it; and end it
   * when the event loop runs dry (default true).
   */
  handleSignals?: boolean;
  /**
   * The firewall mark of protected sockets (provider.protect()): the
   * session's rules skip packets that carry it, so they leave through the
   * physical network whatever the inclusion list says (wg-quick's fwmark).
   * 1..0xffffffff, default 0x7670.
   */
  fwmark?: number;
}

/** The mark of protected sockets unless options.fwmark says otherwise. */
export const DEFAULT_FWMARK = 0x7670;

export const DEFAULT_CONNECT_TIMEOUT_MS = 5 * 60 * 1000;

// Routing tables the kernel uses itself: a session must never flush them.
const RESERVED_TABLES = new Set([0, 253, 254, 255]);

export function checkOptions(o: PlatformOptions): void {
  if (typeof o !== 'object' || o === null) throw argTypeError('options must be an object');
  if (o.stateDir !== undefined && (typeof o.stateDir !== 'string' || o.stateDir === ''))
    throw argTypeError('stateDir must be a non-empty string');
  if (typeof o.stateDir === 'string' && o.stateDir.includes('\0'))
    throw argValueError('stateDir holds a NUL character');
  if (o.connectTimeoutMs !== undefined) {
    const t = o.connectTimeoutMs;
    if (typeof t !== 'number') throw argTypeError('connectTimeoutMs must be a number');
    if (!(t > 0 && t <= 2 ** 31 - 1))
      throw rangeError('connectTimeoutMs must be from 1 to 2147483647');
  }
  if (o.interfaceName !== undefined) checkInterfaceName(o.interfaceName);
  if (o.log !== undefined && typeof o.log !== 'function')
    throw argTypeError('log must be a function');
  if (o.routing !== undefined) {
    if (typeof o.routing !== 'object' || o.routing === null)
      throw argTypeError('routing must be an object');
    const { table, priority } = o.routing;
    const range = (name: string, v: unknown, lo: number, hi: number) => {
      if (v === undefined) return;
      if (typeof v !== 'number') throw argTypeError(`routing.${name} must be a number`);
      if (!Number.isInteger(v) || v < lo || v > hi)
        throw Object.assign(
          new RangeError(`routing.${name} must be an integer from ${lo} to ${hi}`),
          { code: 'ERR_OUT_OF_RANGE' },
        );
    };
    range('table', table, 1, 0xfffffffe);
    range('priority', priority, 1, 32765); // before the main table's rule (32766)
    if (table !== undefined && RESERVED_TABLES.has(table))
      throw argValueError(
        `routing.table ${table} is one of the kernel's own (local, main, default)`,
      );
  }
  const d = o.dns;
  if (
    d !== undefined &&
    d !== false &&
    d !== 'auto' &&
    !(typeof d === 'object' && d !== null && typeof d.resolvConf === 'string' && d.resolvConf)
  )
    throw argTypeError('dns must be "auto", false or { resolvConf: path }');
  if (o.fwmark !== undefined) {
    if (typeof o.fwmark !== 'number') throw argTypeError('fwmark must be a number');
    if (!Number.isInteger(o.fwmark) || o.fwmark < 1 || o.fwmark > 0xffffffff)
      throw rangeError('fwmark must be an integer from 1 to 4294967295');
  }
  for (const k of ['controlSocket', 'handleSignals', 'offload', 'superPackets'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean')
      throw argTypeError(`${k} must be a boolean`);
  }
  for (const k of ['headroom', 'tailroom'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'number') throw argTypeError(`${k} must be a number`);
    if (!Number.isInteger(v) || v < 0 || v > 4096)
      throw rangeError(`${k} must be an integer from 0 to 4096`);
  }
  if (o.gsoMaxSize !== undefined) {
    const g = o.gsoMaxSize;
    if (typeof g !== 'number') throw argTypeError('gsoMaxSize must be a number');
    if (!Number.isInteger(g) || g < 1280 || g > 65536)
      throw rangeError('gsoMaxSize must be an integer from 1280 to 65536');
  }
}
