// require('vpn-provider/chrome'): the `chrome` object an extension's
// background code uses, for one provider on a platform, and a runner for an
// extension's folder:
//
//   const { createPlatform } = require('vpn-provider');
//   const { createChrome } = require('vpn-provider/chrome');
//   globalThis.chrome = createChrome({ platform: createPlatform(), providerId: 'com.example.vpn' });
//
//   const { runExtension } = require('vpn-provider/chrome');
//   await runExtension('path/to/extension');
export { createChrome, startChrome, closeChrome } from './chrome';
export type { Chrome, ChromeOptions, ChromeVpnProvider } from './chrome';
export { AbsentApiError } from './absent';
export type { EventFacade } from './absent';
export type { Runtime, InstalledDetails } from './runtime';
export type { Storage, StorageArea, StorageChanges } from './storage';
export { QUOTA_BYTES } from './storage';
export type {
  SocketsUdp,
  SocketInfo,
  SocketProperties,
  ReceiveInfo,
  ReceiveErrorInfo,
} from './sockets-udp';
export { NET_ERRORS } from './sockets-udp';
export { runExtension, extensionId, readManifest } from './extension';
export type { RunExtensionOptions, RunningExtension, Manifest } from './extension';
