// vpn-provider: chrome.vpnProvider for Node.js on Linux.
import { createPlatform, type Platform } from './platform/platform';
import type { VpnProvider } from './provider/provider';

export { createPlatform, Platform } from './platform/platform';
export type { PlatformOptions, ConfigInfo, PlatformStatus } from './platform/platform';
export type { SessionInfo, SessionState } from './platform/session';
export { VpnProvider } from './provider/provider';
export type {
  PlatformMessage,
  UIEvent,
  VpnConnectionState,
  SetParametersResult,
} from './provider/provider';
export type { Parameters } from './provider/validate';
export { ChromeError } from './provider/errors';
export { runtime } from './provider/callback';
export { RouteTable } from './route';
export type { BulkReport, CidrList, RouteMatch, RouteValues } from './route';
export { TunDevice, parseAddress } from './tun/device';
export type {
  TunDeviceOptions,
  TunCounters,
  TunStats,
  TunOffloads,
  AddressOptions,
} from './tun/device';
export { PacketBatch, type GsoInfo, type GsoType } from './tun/batch';
export type { TrimOptions, EntryBatch } from './tun/device';
export { UdpSocket, DatagramBatch, UdpPeer, PeerTable } from './udp';
export type {
  UdpSocketOptions,
  UdpOffloads,
  UdpPeerError,
  UdpCounters,
  SendTarget,
  SendFromOptions,
} from './udp';
export * from './crypto';
export { ChromeEvent } from './events';
export { VpnError, SystemError } from './errors';
export type { PacketData } from './native';

let defaultPlatform: Platform | null = null;

/** The platform behind `vpnProvider`, created on first use with default options. */
export function getDefaultPlatform(): Platform {
  defaultPlatform ??= createPlatform();
  return defaultPlatform;
}

/** The surface of the default provider ("default") on the default platform. */
export const vpnProvider: VpnProvider = new Proxy({} as VpnProvider, {
  get(_target, key) {
    const p = getDefaultPlatform().provider('default');
    const v = Reflect.get(p, key, p) as unknown;
    return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(p) : v;
  },
});
