// createChrome: the `chrome` object of one provider. vpnProvider is the
// platform's provider (lib/provider) in Chrome's calling convention
// (call.ts); runtime, storage.local and sockets.udp are in the files beside
// this one. Whatever else Chrome has is absent and says so when touched
// (absent.ts).
import type { Platform } from '../platform/platform';
import type { VpnProvider } from '../provider/provider';
import { facade, guard, type EventFacade } from './absent';
import { Caller, type Log } from './call';
import { createRuntime, Lifecycle, type Runtime } from './runtime';
import { createSocketsUdp, UdpSockets, type SocketsUdp } from './sockets-udp';
import { createStorage, LocalStore, providerDir, type Storage } from './storage';
import type { Parameters } from '../provider/validate';
import type { PlatformMessage, UIEvent, VpnConnectionState } from '../provider/provider';
import type { PacketData } from '../native';
import { argTypeError } from '../errors';

export interface ChromeOptions {
  platform: Platform;
  /** The provider (Chrome: the extension id) whose surface this is. */
  providerId: string;
  /** What runtime.getManifest() returns (default: a Manifest V3 one naming the provider). */
  manifest?: Record<string, unknown>;
  /** Where storage and the install record live (default: the platform's state directory). */
  stateDir?: string;
  /**
   * Where Chrome's console messages go: "Unchecked runtime.lastError: ...",
   * "Error in response to ...: ..." (default console.error).
   */
  log?: Log;
  /**
   * Without a callback, methods return a Promise (default: true unless the
   * manifest's manifest_version is 2, as in Chrome).
   */
  promises?: boolean;
  /**
   * Fire runtime.onInstalled / onStartup on the next turn of the event loop
   * (default true; false: startChrome(chrome) fires them, as runExtension
   * does after the background scripts ran).
   */
  autoStart?: boolean;
}

type Cb<T = void> = (result: T) => void;

export interface ChromeVpnProvider {
  createConfig(name: string, callback?: Cb<string>): Promise<string> | void;
  destroyConfig(id: string, callback?: Cb): Promise<void> | void;
  setParameters(parameters: Parameters, callback?: Cb): Promise<void> | void;
  sendPacket(data: PacketData, callback?: Cb): Promise<void> | void;
  notifyConnectionStateChanged(state: VpnConnectionState, callback?: Cb): Promise<void> | void;
  readonly onPlatformMessage: EventFacade<[string, PlatformMessage, string]>;
  readonly onPacketReceived: EventFacade<[ArrayBuffer]>;
  readonly onConfigRemoved: EventFacade<[string]>;
  readonly onConfigCreated: EventFacade<[string, string, object]>;
  readonly onUIEvent: EventFacade<[UIEvent, string]>;
}

export interface Chrome {
  readonly vpnProvider: ChromeVpnProvider;
  readonly runtime: Runtime;
  readonly storage: Storage;
  readonly sockets: { readonly udp: SocketsUdp };
}

interface Host {
  lifecycle: Lifecycle;
  sockets: UdpSockets;
  closed: boolean;
}
const hosts = new WeakMap<object, Host>();

function vpnProviderApi(p: VpnProvider, caller: Caller): ChromeVpnProvider {
  const none = () => [];
  return guard('chrome.vpnProvider', {
    createConfig: (name: string, callback?: unknown) =>
      caller.call(
        'vpnProvider.createConfig',
        () => p.createConfig(name),
        callback,
        (id) => [id],
      ),
    destroyConfig: (id: string, callback?: unknown) =>
      caller.call('vpnProvider.destroyConfig', () => p.destroyConfig(id), callback, none),
    // Chrome's callback and Promise get nothing (the warnings go to the log).
    setParameters: (parameters: Parameters, callback?: unknown) =>
      caller.call(
        'vpnProvider.setParameters',
        () => p.setParameters(parameters).then(() => undefined),
        callback,
        none,
      ),
    sendPacket: (data: PacketData, callback?: unknown) =>
      caller.call('vpnProvider.sendPacket', () => p.sendPacket(data), callback, none),
    notifyConnectionStateChanged: (state: VpnConnectionState, callback?: unknown) =>
      caller.call(
        'vpnProvider.notifyConnectionStateChanged',
        () => p.notifyConnectionStateChanged(state),
        callback,
        none,
      ),
    onPlatformMessage: facade('chrome.vpnProvider.onPlatformMessage', p.onPlatformMessage),
    onPacketReceived: facade('chrome.vpnProvider.onPacketReceived', p.onPacketReceived),
    onConfigRemoved: facade('chrome.vpnProvider.onConfigRemoved', p.onConfigRemoved),
    onConfigCreated: facade('chrome.vpnProvider.onConfigCreated', p.onConfigCreated),
    onUIEvent: facade('chrome.vpnProvider.onUIEvent', p.onUIEvent),
  });
}

/** The `chrome` object of one provider on `platform`. */
export function createChrome(options: ChromeOptions): Chrome {
  if (typeof options !== 'object' || options === null)
    throw argTypeError('options must be an object');
  const { platform, providerId } = options;
  if (typeof platform?.provider !== 'function')
    throw argTypeError('options.platform must be a Platform (createPlatform())');
  const provider = platform.provider(providerId); // checks the id
  const manifest = options.manifest ?? {
    manifest_version: 3,
    name: providerId,
    version: '0.0.0',
    permissions: ['vpnProvider'],
  };
  const log = options.log ?? ((line: string) => console.error(line));
  const caller = new Caller(log, options.promises ?? manifest.manifest_version !== 2);
  const dir = providerDir(options.stateDir ?? platform.stateDir, providerId);
  const version = typeof manifest.version === 'string' ? manifest.version : '';
  const lifecycle = new Lifecycle(dir, version);
  const sockets = new UdpSockets();
  const chrome: Chrome = guard('chrome', {
    vpnProvider: vpnProviderApi(provider, caller),
    runtime: createRuntime(providerId, manifest, lifecycle, caller),
    storage: createStorage(new LocalStore(dir), caller),
    sockets: guard('chrome.sockets', { udp: createSocketsUdp(sockets, caller) }),
  });
  const host: Host = { lifecycle, sockets, closed: false };
  hosts.set(chrome, host);
  if (options.autoStart !== false) {
    setImmediate(() => {
      if (host.closed) return;
      try {
        lifecycle.start();
      } catch (err) {
        log(`runtime: ${(err as Error).message}`);
      }
    });
  }
  return chrome;
}

function hostOf(chrome: Chrome): Host {
  const h = hosts.get(chrome);
  if (!h) throw argTypeError('not a chrome object of createChrome()');
  return h;
}

/** Fires runtime.onInstalled / onStartup now (once; for autoStart: false). */
export function startChrome(chrome: Chrome): void {
  hostOf(chrome).lifecycle.start();
}

/** Closes the extension's sockets (the platform is the caller's to close). */
export function closeChrome(chrome: Chrome): void {
  const h = hostOf(chrome);
  h.closed = true;
  h.sockets.closeAll();
}
