// What `vpn-provider status` and `platform.configs()` report: plain data,
// shared by the platform, the control socket and the command-line tool
// (which must load no native code, so nothing here imports any).
import type { Counters, SessionInfo } from './session';

/** The platform's state, as `vpn-provider status` shows it. */
export interface PlatformStatus {
  state: 'disconnected' | SessionInfo['state'];
  providerId?: string;
  configId?: string;
  interfaceName?: string;
  connectedAt?: string;
  address?: string;
  /** The dual-stack IPv6 address, when the session has one. */
  ipv6Address?: string;
  mtu?: number;
  txQueueLength?: number;
  /** The kill switch: packets outside the tunnel are refused (protected sockets and exclusions aside). */
  blockOutside?: boolean;
  /** Per-user routing: only these uid ranges use the tunnel, or all but these. */
  allowedUids?: [number, number][];
  disallowedUids?: [number, number][];
  dnsServers?: string[];
  domainSearch?: string[];
  inclusions?: string[];
  exclusions?: string[];
  /** Packets and bytes into the tunnel (read from the device) and out of it (written). */
  counters?: Counters;
  /** Per second, over the last second. */
  rates?: Counters | null;
}

export interface ConfigInfo {
  providerId: string;
  id: string;
  name: string;
}
