// One VPN session: the TUN device created on connect, the connect timer, and
// what setParameters applied to the device. Closing the device removes the
// interface and with it its addresses and the routes through it.
import { native } from '../native';
import type { ValidParameters } from '../provider/validate';
import type { RouteTable } from '../route';
import { TunDevice } from '../tun/device';
import type { DnsBackend } from './dns';
import { SessionRouting, type SessionRoutingOptions } from './routing';

export type SessionState = 'connecting' | 'configured' | 'connected';

export interface SessionInfo {
  providerId: string;
  configId: string;
  interfaceName: string;
  state: SessionState;
}

export interface SessionOptions {
  providerId: string;
  configId: string;
  interfaceName: string;
  offload: boolean;
  superPackets: boolean;
  gsoMaxSize: number | undefined;
  headroom: number;
  tailroom: number;
  connectTimeoutMs: number;
  routing: SessionRoutingOptions;
  dns: DnsBackend | null;
  onTimeout: () => void;
  onDeviceError: (err: Error) => void;
}

/** a.b.c.d with every host bit set, for prefixes that have a broadcast. */
export function defaultBroadcast(address: string, prefixLength: number): string | undefined {
  if (prefixLength > 30) return undefined;
  const v = address.split('.').reduce((a, p) => ((a << 8) | Number(p)) >>> 0, 0);
  const host = prefixLength === 0 ? 0xffffffff : (1 << (32 - prefixLength)) - 1;
  const b = (v | host) >>> 0;
  return [b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.');
}

/** Packets and bytes into the tunnel and out of it (wire-size packets). */
export interface Counters {
  inPackets: number;
  inBytes: number;
  outPackets: number;
  outBytes: number;
}

export class Session {
  state: SessionState = 'connecting';
  private applied: ValidParameters | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly routing: SessionRouting;
  /** The inclusion and exclusion lists as a table (1 in, 0 around), once applied. */
  routes: RouteTable | null = null;

  static async open(options: SessionOptions): Promise<Session> {
    const device = await TunDevice.open({
      name: options.interfaceName,
      up: false,
      offload: options.offload,
      superPackets: options.superPackets,
      gsoMaxSize: options.gsoMaxSize,
      headroom: options.headroom,
      tailroom: options.tailroom,
    });
    // A point-to-point tunnel needs no IPv6 link-local address; without one
    // the kernel sends no router solicitations into it. (Fails only where
    // IPv6 is off, which is fine.)
    await device.setLink({ ipv6LinkLocal: false }).catch(() => undefined);
    return new Session(options, device);
  }

  private constructor(
    private readonly options: SessionOptions,
    readonly device: TunDevice,
  ) {
    device.onError.addListener((err) => options.onDeviceError(err));
    this.routing = new SessionRouting(options.routing, device.ifindex);
    this.startTimer();
  }

  get providerId(): string {
    return this.options.providerId;
  }

  get configId(): string {
    return this.options.configId;
  }

  info(): SessionInfo {
    return {
      providerId: this.providerId,
      configId: this.configId,
      interfaceName: this.device.name,
      state: this.state,
    };
  }

  /** (Re)starts the connect timer: setParameters must succeed before it fires. */
  startTimer(): void {
    this.stopTimer();
    this.timer = setTimeout(() => this.options.onTimeout(), this.options.connectTimeoutMs);
    this.timer.unref();
  }

  stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Applies validated parameters: address, broadcast, MTU, link up, routes and rules, DNS. */
  async apply(p: ValidParameters): Promise<void> {
    const old = this.applied;
    if (old && (old.address !== p.address || old.prefixLength !== p.prefixLength)) {
      await this.device.deleteAddress({ address: old.address, prefixLength: old.prefixLength });
    }
    await this.device.addAddress({
      address: p.address,
      prefixLength: p.prefixLength,
      broadcast:
        p.family === 4 ? (p.broadcast ?? defaultBroadcast(p.address, p.prefixLength)) : undefined,
    });
    const v6 = p.ipv6;
    if (
      old?.ipv6 &&
      (old.ipv6.address !== v6?.address || old.ipv6.prefixLength !== v6?.prefixLength)
    ) {
      await this.device.deleteAddress(old.ipv6);
    }
    if (v6) await this.device.addAddress(v6);
    await this.device.setLink({ mtu: p.mtu, txQueueLen: p.txQueueLength, up: true });
    this.routes = await this.routing.apply(p);
    const dns = this.options.dns;
    if (dns && (p.dnsServers.length > 0 || p.domainSearch.length > 0)) {
      await dns.apply(this.device.name, p.dnsServers, p.domainSearch, p.dnsMatchDomains);
    } else if (dns) {
      await dns.restore();
    }
    this.applied = p;
    this.stopTimer();
    if (this.state === 'connecting') this.state = 'configured';
  }

  markConnected(): void {
    this.state = 'connected';
  }

  get dnsBackend(): DnsBackend | null {
    return this.options.dns;
  }

  get parameters(): ValidParameters | null {
    return this.applied;
  }

  /** Packets and bytes into the tunnel (read from the device) and out of it (written). */
  counters(): Counters {
    const c = this.device.counters();
    return {
      // Wire-size packets: a super-packet counts as the segments it carries.
      inPackets: c.rxPackets - c.rxSuperPackets + c.rxSegments,
      inBytes: c.rxBytes,
      outPackets: c.txPackets,
      outBytes: c.txBytes,
    };
  }

  /** The counters per second over the last second; null until two samples exist. */
  rates: Counters | null = null;
  private sampler: NodeJS.Timeout | null = null;
  private lastSample: { t: number; c: Counters } | null = null;

  /** Samples the counters once a second, for `rates` (never keeps the process alive). */
  startSampling(): void {
    this.stopSampling();
    this.sampler = setInterval(() => {
      const now = { t: Date.now(), c: this.counters() };
      const prev = this.lastSample;
      if (prev) {
        const dt = (now.t - prev.t) / 1000;
        this.rates = {
          inPackets: (now.c.inPackets - prev.c.inPackets) / dt,
          inBytes: (now.c.inBytes - prev.c.inBytes) / dt,
          outPackets: (now.c.outPackets - prev.c.outPackets) / dt,
          outBytes: (now.c.outBytes - prev.c.outBytes) / dt,
        };
      }
      this.lastSample = now;
    }, 1000);
    this.sampler.unref();
  }

  private stopSampling(): void {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = null;
    this.lastSample = null;
    this.rates = null;
  }

  /** Removes the rules and routes, then the device (its addresses go with it). */
  async close(): Promise<void> {
    this.stopTimer();
    this.stopSampling();
    try {
      await this.options.dns?.restore();
      await this.routing.remove();
    } finally {
      this.release();
      this.device.close();
      this.routes = null;
    }
  }

  private persistent = false;

  /**
   * Fail closed after a SIGKILL: the device outlives the process, so the
   * session's routes keep pointing into a device that nobody reads (traffic
   * for the tunnel, DNS queries to the tunnel's servers included, is
   * dropped, not sent around it) until the next start removes it with the
   * rest (the journal names it). Called once the journal records it.
   */
  keepDeviceOnCrash(): void {
    native.setTunPersist(this.device.fd, true);
    this.persistent = true;
  }

  /**
   * The device goes with its fd again (a normal end of the session, or the
   * process's exit hook). Synchronous. Where the device is already gone
   * there is nothing to do.
   */
  release(): void {
    if (!this.persistent) return;
    this.persistent = false;
    try {
      native.setTunPersist(this.device.fd, false);
    } catch {
      // the device was deleted under us (or the fd is closed): nothing persists
    }
  }
}
