// The vpnProvider surface one provider (Chrome: one extension) gets: five
// methods and five events as in Chrome, plus the fast path
// (onPacketsReceived, sendPackets). The policy behind the methods lives in
// the platform (lib/platform); this class is the API's shape.
import { ChromeEvent } from '../events';
import type { PacketData } from '../native';
import type { PacketBatch } from '../tun/batch';
import type { EntryBatch, TrimOptions, TunDevice } from '../tun/device';
import { settle, type Callback } from './callback';
import type { Parameters } from './validate';

export type PlatformMessage =
  | 'connected'
  | 'disconnected'
  | 'error'
  | 'linkDown'
  | 'linkUp'
  | 'linkChanged'
  | 'suspend'
  | 'resume';
export type UIEvent = 'showAddDialog' | 'showConfigureDialog';
export type VpnConnectionState = 'connected' | 'failure';

export interface SetParametersResult {
  /** Entries dropped as invalid or duplicate, in shill's words. */
  warnings: string[];
}

/** What a provider asks of its platform. */
export interface ProviderHost {
  createConfig(providerId: string, name: unknown): Promise<string>;
  destroyConfig(providerId: string, id: unknown): Promise<void>;
  setParameters(providerId: string, parameters: unknown): Promise<SetParametersResult>;
  sendPacket(providerId: string, data: PacketData): Promise<void>;
  sendPackets(
    providerId: string,
    packets: readonly PacketData[],
    options?: { withHeader?: boolean },
  ): Promise<void>;
  sendFrom(providerId: string, batch: EntryBatch, options?: TrimOptions): Promise<void>;
  notifyConnectionStateChanged(providerId: string, state: unknown): Promise<void>;
  protect(providerId: string, socket: unknown): void;
}

export class VpnProvider {
  /** (id, message, error): error is "" except for "error" messages. */
  readonly onPlatformMessage = new ChromeEvent<[string, PlatformMessage, string]>(
    'vpnProvider.onPlatformMessage',
  );
  /** Each packet the system sends into the tunnel, in its own ArrayBuffer. */
  readonly onPacketReceived: ChromeEvent<[ArrayBuffer]>;
  /** Fast path: one call per batch; views valid during the call. */
  readonly onPacketsReceived: ChromeEvent<[PacketBatch]>;
  readonly onConfigRemoved = new ChromeEvent<[string]>('vpnProvider.onConfigRemoved');
  readonly onConfigCreated = new ChromeEvent<[string, string, object]>(
    'vpnProvider.onConfigCreated',
  );
  readonly onUIEvent = new ChromeEvent<[UIEvent, string]>('vpnProvider.onUIEvent');

  private device: TunDevice | null = null;
  private readonly forwardBatch = (batch: PacketBatch) => this.onPacketsReceived.dispatch(batch);
  private readonly forwardPacket = (data: ArrayBuffer) => this.onPacketReceived.dispatch(data);

  constructor(
    readonly id: string,
    private readonly host: ProviderHost,
  ) {
    const sync = () => this.syncDevice();
    this.onPacketReceived = new ChromeEvent('vpnProvider.onPacketReceived', sync);
    this.onPacketsReceived = new ChromeEvent('vpnProvider.onPacketsReceived', sync);
  }

  /** Creates a configuration; resolves its id (Chrome: the name). */
  createConfig(name: string): Promise<string>;
  createConfig(name: string, callback: Callback<string>): void;
  createConfig(name: string, callback?: Callback<string>): Promise<string> | void {
    return settle(() => this.host.createConfig(this.id, name), callback);
  }

  destroyConfig(id: string): Promise<void>;
  destroyConfig(id: string, callback: Callback<void>): void;
  destroyConfig(id: string, callback?: Callback<void>): Promise<void> | void {
    return settle(() => this.host.destroyConfig(this.id, id), callback);
  }

  setParameters(parameters: Parameters): Promise<SetParametersResult>;
  setParameters(parameters: Parameters, callback: Callback<SetParametersResult>): void;
  setParameters(
    parameters: Parameters,
    callback?: Callback<SetParametersResult>,
  ): Promise<SetParametersResult> | void {
    return settle(() => this.host.setParameters(this.id, parameters), callback);
  }

  /** Writes one IP packet into the system, as if it came out of the tunnel. */
  sendPacket(data: PacketData): Promise<void>;
  sendPacket(data: PacketData, callback: Callback<void>): void;
  sendPacket(data: PacketData, callback?: Callback<void>): Promise<void> | void {
    return settle(() => this.host.sendPacket(this.id, data), callback);
  }

  /**
   * Fast path: many packets in one native call, written from their memory.
   * `withHeader`: each packet starts with its virtio-net header (a
   * super-packet as a peer's device read it; platform `superPackets`).
   */
  sendPackets(packets: readonly PacketData[], options?: { withHeader?: boolean }): Promise<void> {
    return this.host.sendPackets(this.id, packets, options);
  }

  /**
   * Fast path: the entries of a batch (a UdpSocket's DatagramBatch) as
   * packets, in one native call with no copy, the tunnel's header and
   * trailer cut off (`trimHead`, `trimTail`). Dropped entries are skipped;
   * entries that are no IP packet are left out and counted, never refused
   * whole (TunDevice.sendFrom).
   */
  sendFrom(batch: EntryBatch, options?: TrimOptions): Promise<void> {
    return this.host.sendFrom(this.id, batch, options);
  }

  notifyConnectionStateChanged(state: VpnConnectionState): Promise<void>;
  notifyConnectionStateChanged(state: VpnConnectionState, callback: Callback<void>): void;
  notifyConnectionStateChanged(
    state: VpnConnectionState,
    callback?: Callback<void>,
  ): Promise<void> | void {
    return settle(() => this.host.notifyConnectionStateChanged(this.id, state), callback);
  }

  /**
   * Our extension (Android's VpnService.protect): marks a socket so that its
   * packets leave through the physical network, never into the tunnel,
   * whatever the inclusion list and the kill switch say: the VPN's own
   * transport to its server. A UdpSocket, a bound dgram.Socket, a
   * net.Socket, or an fd. Synchronous; throws on failure (EPERM without
   * CAP_NET_ADMIN).
   */
  protect(socket: unknown): void {
    this.host.protect(this.id, socket);
  }

  /**
   * The platform hands the session's device to its provider (null when the
   * session ends). The device reads only while this provider has packet
   * listeners, so packets without a listener wait in the kernel's queue.
   */
  attachDevice(device: TunDevice | null): void {
    if (this.device === device) return;
    if (this.device) {
      this.device.onPacketsReceived.removeListener(this.forwardBatch);
      this.device.onPacketReceived.removeListener(this.forwardPacket);
    }
    this.device = device;
    this.syncDevice();
  }

  private syncDevice(): void {
    const d = this.device;
    if (!d || d.closed) return;
    if (this.onPacketsReceived.hasListeners()) d.onPacketsReceived.addListener(this.forwardBatch);
    else d.onPacketsReceived.removeListener(this.forwardBatch);
    if (this.onPacketReceived.hasListeners()) d.onPacketReceived.addListener(this.forwardPacket);
    else d.onPacketReceived.removeListener(this.forwardPacket);
  }
}
