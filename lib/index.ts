// vpn-provider: chrome.vpnProvider for Node.js on Linux.
export { TunDevice, parseAddress } from './tun/device';
export type { TunDeviceOptions, TunCounters, TunStats, AddressOptions } from './tun/device';
export { PacketBatch } from './tun/batch';
export { ChromeEvent } from './events';
export { VpnError, SystemError } from './errors';
export type { PacketData } from './native';
