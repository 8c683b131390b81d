// One VPN session: the TUN device created on connect, the connect timer, and
// what setParameters applied to the device. Closing the device removes the
// interface and with it its addresses and the routes through it.
import type { ValidParameters } from '../provider/validate';
import type { RouteTable } from '../route';
import type { TunDevice } from '../tun/device';
import type { DnsBackend } from './dns';
import type { Kernel, SessionRoutes } from './kernel';
import type { SessionRoutingOptions } from './routing';

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
  /** Where the device, addresses, routes and rules go (linuxKernel, or a test's). */
  kernel: Kernel;
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
  private readonly routing: SessionRoutes;
  /** The inclusion and exclusion lists as a table (1 in, 0 around), once applied. */
  routes: RouteTable | null = null;

  static async open(options: SessionOptions): Promise<Session> {
    const device = await options.kernel.openDevice({
      name: options.interfaceName,
      offload: options.offload,
      superPackets: options.superPackets,
      gsoMaxSize: options.gsoMaxSize,
      headroom: options.headroom,
      tailroom: options.tailroom,
    });
    return new Session(options, device);
  }

  private constructor(
    private readonly options: SessionOptions,
    readonly device: TunDevice,
  ) {
    device.onError.addListener((err) => options.onDeviceError(err));
    this.routing = options.kernel.routes(options.routing, device.ifindex);
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
    await this.options.kernel.configure(this.device, p, this.applied);
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
    this.options.kernel.persist(this.device, true);
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
    this.options.kernel.persist(this.device, false);
  }
}
