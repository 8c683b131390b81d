// The platform: what ChromeOS does for a vpnProvider extension, as a
// session orchestrator. It connects and disconnects ("the user clicks"),
// opens the session (the TUN device), applies what setParameters gives,
// forwards network changes, and tears it all down. The jobs around it sit
// beside it: options.ts (checks), configs.ts (the configurations),
// recovery.ts (after a crash), process-watch.ts (signals and exit),
// routing.ts, dns.ts, session.ts; control.ts serves the command-line tool
// against an interface of its own. It runs in the provider's process, which
// must own the TUN fd.
import { debuglog } from 'node:util';
import { argTypeError, argValueError, fromNative, VpnError } from '../errors';
import { native, type PacketData } from '../native';
import { ChromeError, chromeErrorFor } from '../provider/errors';
import {
  VpnProvider,
  type PlatformMessage,
  type ProviderHost,
  type SetParametersResult,
  type UIEvent,
} from '../provider/provider';
import { checkTypes, sanityError, validate } from '../provider/validate';
import type { RouteTable } from '../route';
import type { EntryBatch, TrimOptions } from '../tun/device';
import { ConfigRegistry } from './configs';
import { ControlServer, type ControlTarget } from './control';
import { dnsBackend, needsResolved, ResolvConfBackend, type DnsOption } from './dns';
import { Journal } from './journal';
import { NetworkMonitor, watchSleep, type LinkEvent, type SleepEvent } from './monitor';
import { checkEnum, checkIds, checkName } from './names';
import {
  checkOptions,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_FWMARK,
  type PlatformOptions,
} from './options';
import { linuxKernel, type Kernel } from './kernel';
import { ProcessWatch } from './process-watch';
import { recoverLeftovers } from './recovery';
import { DEFAULT_ROUTING, type RoutingOptions } from './routing';
import { Session, type SessionInfo } from './session';
import type { ConfigInfo, PlatformStatus } from './status';
import { ConfigStore, defaultStateDir } from './store';

export type { ConfigInfo, PlatformStatus } from './status';
export type { PlatformOptions } from './options';
export { checkInterfaceName, checkName, MAX_NAME_LENGTH } from './names';

// NODE_DEBUG=vpn-provider: the control plane's steps on stderr.
const debug = debuglog('vpn-provider');

/** What the platform needs of its control socket (ControlServer). */
interface Served {
  start(): Promise<boolean>;
  close(): void;
}

export class Platform implements ProviderHost, ControlTarget {
  readonly stateDir: string;
  private readonly connectTimeoutMs: number;
  private readonly interfaceName: string;
  private readonly offload: boolean;
  private readonly superPackets: boolean;
  private readonly gsoMaxSize: number | undefined;
  private readonly room: { headroom: number; tailroom: number };
  private readonly log: (line: string) => void;
  private readonly routing: RoutingOptions;
  /** Whether options.routing named a table or priority (then no other is taken). */
  private readonly routingExplicit: boolean;
  private readonly dns: DnsOption;
  /** The mark of protected sockets, which the session's rules let pass. */
  readonly fwmark: number;
  private readonly configsOf: ConfigRegistry;
  private readonly journal: Journal;
  /** Removal of what a killed process left behind; connect waits for it. */
  private readonly recovered: Promise<void>;
  private readonly providers = new Map<string, VpnProvider>();
  private active: Session | null = null;
  /** The routing table of the active session (see pickRouting). */
  private activeRouting: RoutingOptions | null = null;
  private readonly monitor = new NetworkMonitor((e) => this.networkEvent(e));
  private sleepWatch: { stop(): void } | null = null;
  private readonly watch: ProcessWatch;
  private control: Served | null = null;
  private controlStarted: Promise<boolean> = Promise.resolve(false);
  private connectedAt: Date | null = null;
  /** connect/disconnect/close run one at a time, in call order. */
  private lifecycle: Promise<unknown> = Promise.resolve();
  private closed = false;

  /**
   * A platform without a control socket; createPlatform() adds one
   * (options.controlSocket). `kernel`: where sessions go (a test gives a
   * socketpair kernel; see kernel.ts).
   */
  constructor(
    options: PlatformOptions = {},
    private readonly kernel: Kernel = linuxKernel,
  ) {
    checkOptions(options);
    this.stateDir = options.stateDir ?? defaultStateDir();
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.interfaceName = options.interfaceName ?? 'vpn%d';
    this.offload = options.offload !== false;
    this.superPackets = options.superPackets === true;
    this.gsoMaxSize = options.gsoMaxSize;
    this.room = { headroom: options.headroom ?? 0, tailroom: options.tailroom ?? 0 };
    this.log = options.log ?? ((line) => console.warn(line));
    this.routing = { ...DEFAULT_ROUTING, ...options.routing };
    this.routingExplicit =
      options.routing?.table !== undefined || options.routing?.priority !== undefined;
    this.dns = options.dns ?? 'auto';
    this.fwmark = options.fwmark ?? DEFAULT_FWMARK;
    this.configsOf = new ConfigRegistry(new ConfigStore(this.stateDir));
    this.journal = new Journal(this.stateDir);
    this.recovered = recoverLeftovers(this.journal, this.routing, this.log);
    this.recovered.catch(() => {}); // reported by connect
    this.watch = new ProcessWatch(
      {
        signal: (signal) => this.signalled(signal),
        beforeExit: () => void this.disconnect(),
        exit: () => this.exiting(),
      },
      options.handleSignals ?? true,
    );
  }

  /** Serves `control` (the command-line tool's socket) until close(). */
  serve(control: Served): void {
    this.control = control;
    this.controlStarted = control.start().catch((err) => {
      this.log(`vpn-provider: no control socket: ${(err as Error).message}`);
      return false;
    });
  }

  /** Settles when the control socket listens (true) or will not (false). */
  get controlReady(): Promise<boolean> {
    return this.controlStarted;
  }

  /** Ids of the providers this platform has handed out. */
  providerIds(): string[] {
    return [...this.providers.keys()];
  }

  /** State, addresses, routes, counters and rates of the session. */
  status(): PlatformStatus {
    const s = this.active;
    if (!s) return { state: 'disconnected' };
    const p = s.parameters;
    return {
      state: s.state,
      providerId: s.providerId,
      configId: s.configId,
      interfaceName: s.device.name,
      connectedAt: this.connectedAt?.toISOString(),
      ...(p
        ? {
            address: `${p.address}/${p.prefixLength}`,
            ...(p.ipv6 ? { ipv6Address: `${p.ipv6.address}/${p.ipv6.prefixLength}` } : {}),
            mtu: p.mtu,
            txQueueLength: p.txQueueLength,
            blockOutside: p.blockOutside,
            ...(p.allowedUids ? { allowedUids: p.allowedUids } : {}),
            ...(p.disallowedUids ? { disallowedUids: p.disallowedUids } : {}),
            dnsServers: p.dnsServers,
            domainSearch: p.domainSearch,
            inclusions: p.inclusions.map((c) => `${c.network}/${c.prefixLength}`),
            exclusions: p.exclusions.map((c) => `${c.network}/${c.prefixLength}`),
          }
        : {}),
      counters: s.counters(),
      rates: s.rates,
    };
  }

  /** Settles once what a killed process left behind has been removed. */
  get ready(): Promise<void> {
    return this.recovered;
  }

  /** The active session's inclusion and exclusion lists as a table (1 in, 0 around), or null. */
  get routes(): RouteTable | null {
    return this.active?.routes ?? null;
  }

  /** The vpnProvider surface of one provider (Chrome: one extension). */
  provider(providerId: string): VpnProvider {
    checkName('providerId', providerId);
    if (providerId === '') throw argValueError('providerId must not be empty');
    let p = this.providers.get(providerId);
    if (!p) {
      p = new VpnProvider(providerId, this);
      this.providers.set(providerId, p);
    }
    return p;
  }

  /** Every persisted configuration. */
  configs(): ConfigInfo[] {
    return this.configsOf.list();
  }

  get session(): SessionInfo | null {
    return this.active ? this.active.info() : null;
  }

  // ------------------------------------------------------ the user's side

  /** "The user clicks connect": one session at a time; the current one ends first. */
  connect(providerId: string, configId: string): Promise<void> {
    return this.serialize(async () => {
      this.checkOpen();
      checkIds(providerId, configId);
      this.configsOf.require(providerId, configId);
      // The configuration that is already up (or coming up): nothing to do,
      // as on ChromeOS, rather than tearing down a working tunnel.
      const current = this.active;
      if (current && current.providerId === providerId && current.configId === configId) return;
      await this.endSession();
      await this.recovered;
      let other = null;
      try {
        other = this.journal.read();
      } catch {
        // corrupt: overwritten below
      }
      if (other && other.pid !== process.pid && Journal.alive(other)) {
        throw new VpnError(
          `Process ${other.pid} has a session on the state directory ${this.stateDir} (routing table ${other.table}).`,
          'ERR_SESSION_ELSEWHERE',
        );
      }
      const routing = this.kernel.pickRouting(this.routing, this.routingExplicit);
      debug(
        'connect %s/%s: table %d, priority %d',
        providerId,
        configId,
        routing.table,
        routing.priority,
      );
      const session = await Session.open({
        providerId,
        configId,
        interfaceName: this.interfaceName,
        offload: this.offload,
        superPackets: this.superPackets,
        gsoMaxSize: this.gsoMaxSize,
        ...this.room,
        connectTimeoutMs: this.connectTimeoutMs,
        routing: { ...routing, fwmark: this.fwmark },
        kernel: this.kernel,
        dns: await dnsBackend(this.dns, this.stateDir),
        onTimeout: () =>
          void this.endSession(
            session,
            `Connect timeout: setParameters did not succeed within ${this.connectTimeoutMs} ms.`,
          ),
        onDeviceError: (err) =>
          void this.endSession(session, `The tunnel device failed: ${err.message}`),
      });
      const dns = session.dnsBackend;
      try {
        // Before anything reaches the kernel's tables: without this record a
        // crash would leave routes that nothing removes, so no journal, no
        // session (a read-only or full state directory fails here).
        this.journal.write({
          table: routing.table,
          priority: routing.priority,
          interfaceName: session.device.name,
          ifindex: session.device.ifindex,
          ...(dns instanceof ResolvConfBackend
            ? { resolvConfPath: dns.file, resolvConfBackup: dns.backup }
            : {}),
        });
        session.keepDeviceOnCrash();
      } catch (err) {
        await session.close().catch(() => undefined);
        throw err;
      }
      this.active = session;
      this.activeRouting = routing;
      this.watch.set(true);
      const provider = this.provider(providerId);
      provider.attachDevice(session.device);
      await this.monitor.start({
        ifindex: session.device.ifindex,
        onGone: () =>
          void this.endSession(
            session,
            `The tunnel device failed: ${session.device.name} was deleted.`,
          ),
      });
      this.connectedAt = new Date();
      session.startSampling();
      this.sleepWatch ??= watchSleep((e) => this.systemEvent(e));
      this.send(providerId, configId, 'connected');
    });
  }

  /** "The user clicks disconnect". */
  disconnect(): Promise<void> {
    return this.serialize(() => this.endSession());
  }

  /** "The user forgets it": removed from the store; the provider gets onConfigRemoved. */
  async removeConfig(providerId: string, configId: string): Promise<void> {
    this.checkOpen();
    checkIds(providerId, configId);
    this.configsOf.require(providerId, configId);
    if (this.active?.providerId === providerId && this.active.configId === configId) {
      await this.serialize(() => this.endSession());
    }
    await this.configsOf.remove(providerId, configId);
    this.providers.get(providerId)?.onConfigRemoved.dispatch(configId);
  }

  /** The platform creates a configuration (the CLI's `create`): onConfigCreated. */
  async createConfigFor(providerId: string, name: string, data: object = {}): Promise<string> {
    this.checkOpen();
    checkName('providerId', providerId);
    if (typeof data !== 'object' || data === null) throw argTypeError('data must be an object');
    const id = await this.createConfig(providerId, name);
    this.provider(providerId).onConfigCreated.dispatch(id, name, data);
    return id;
  }

  showAddDialog(providerId: string): void {
    this.checkOpen();
    checkName('providerId', providerId);
    this.uiEvent(providerId, 'showAddDialog', '');
  }

  showConfigureDialog(providerId: string, configId: string): void {
    this.checkOpen();
    checkIds(providerId, configId);
    this.configsOf.require(providerId, configId);
    this.uiEvent(providerId, 'showConfigureDialog', configId);
  }

  /**
   * A change of the physical network (the monitor calls this; tests may too).
   * With reconnect "true" the provider gets the message and the session
   * stays (linkUp and linkChanged restart the connect timer); without it,
   * linkDown and linkChanged end the session, as ChromeOS does.
   */
  networkEvent(event: LinkEvent): void {
    checkEnum('networkEvent: event', event, ['linkDown', 'linkUp', 'linkChanged']);
    const s = this.active;
    if (!s) return;
    const reconnect = s.parameters?.reconnect ?? false;
    if (reconnect || event === 'linkUp') {
      if (event !== 'linkDown') s.startTimer();
      this.send(s.providerId, s.configId, event);
    } else {
      void this.serialize(() => this.endSession(s));
    }
  }

  /**
   * The system is about to sleep, or woke (logind's PrepareForSleep, or
   * injected). With reconnect "true" the provider gets suspend / resume;
   * without it, suspend ends the session.
   */
  systemEvent(event: SleepEvent): void {
    checkEnum('systemEvent: event', event, ['suspend', 'resume']);
    const s = this.active;
    if (!s) return;
    if (s.parameters?.reconnect) {
      if (event === 'resume') s.startTimer();
      this.send(s.providerId, s.configId, event);
    } else if (event === 'suspend') {
      void this.serialize(() => this.endSession(s));
    }
  }

  /** Ends the session and releases everything; the process can then exit. */
  close(): Promise<void> {
    return this.serialize(async () => {
      if (this.closed) return;
      await this.endSession();
      await this.controlStarted;
      this.control?.close();
      this.closed = true;
    });
  }

  // ------------------------------------------------- the provider's side

  async createConfig(providerId: string, name: unknown): Promise<string> {
    this.checkOpen();
    checkName('createConfig: name', name);
    return this.configsOf.create(providerId, name);
  }

  async destroyConfig(providerId: string, id: unknown): Promise<void> {
    this.checkOpen();
    if (typeof id !== 'string') throw argTypeError('destroyConfig: id must be a string');
    await this.configsOf.destroy(providerId, id, () =>
      this.active?.providerId === providerId && this.active.configId === id
        ? this.serialize(() => this.endSession())
        : undefined,
    );
  }

  async setParameters(providerId: string, parameters: unknown): Promise<SetParametersResult> {
    this.checkOpen();
    checkTypes(parameters);
    const sanity = sanityError(parameters);
    if (sanity) throw chromeErrorFor(sanity);
    const session = this.owned(providerId);
    const { errors, value } = validate(parameters);
    if (!value) throw new VpnError(errors, 'ERR_INVALID_PARAMETERS');
    // Before anything is applied: only resolved routes names by domain.
    if (value.dnsMatchDomains.length > 0 && session.dnsBackend?.kind !== 'resolved')
      throw needsResolved();
    for (const w of value.warnings) this.log(`vpn-provider: setParameters: ${w}`);
    debug('setParameters %s: applying on %s', providerId, session.device.name);
    await session.apply(value);
    return { warnings: value.warnings };
  }

  async sendPacket(providerId: string, data: PacketData): Promise<void> {
    this.checkOpen();
    const session = this.owned(providerId);
    const len = data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data.byteLength : -1;
    if (len === 0) throw new ChromeError('ERR_EMPTY_PACKET');
    await this.written(session, session.device.sendPacket(data));
  }

  async sendPackets(
    providerId: string,
    packets: readonly PacketData[],
    options?: { withHeader?: boolean },
  ): Promise<void> {
    this.checkOpen();
    const session = this.owned(providerId);
    await this.written(session, session.device.sendPackets(packets, options));
  }

  async sendFrom(providerId: string, batch: EntryBatch, options?: TrimOptions): Promise<void> {
    this.checkOpen();
    const session = this.owned(providerId);
    await this.written(session, session.device.sendFrom(batch, options));
  }

  /** provider.protect(): SO_MARK with the platform's mark. */
  protect(providerId: string, socket: unknown): void {
    this.checkOpen();
    checkName('providerId', providerId);
    const fd = socketFd(socket);
    try {
      native.setSocketMark(fd, this.fwmark);
    } catch (err) {
      throw fromNative(err);
    }
  }

  /** A failed write (not a refused packet) ends the session, as ChromeOS's error does. */
  private async written(session: Session, write: Promise<void>): Promise<void> {
    try {
      await write;
    } catch (err) {
      if ((err as { errno?: number }).errno !== undefined && this.active === session) {
        void this.endSession(
          session,
          `Writing to the tunnel device failed: ${(err as Error).message}`,
        );
      }
      throw err;
    }
  }

  async notifyConnectionStateChanged(providerId: string, state: unknown): Promise<void> {
    this.checkOpen();
    if (state !== 'connected' && state !== 'failure') {
      throw Object.assign(
        new TypeError('notifyConnectionStateChanged: state must be "connected" or "failure"'),
        {
          code: 'ERR_INVALID_ARG_VALUE',
        },
      );
    }
    const session = this.owned(providerId);
    if (state === 'connected') {
      session.markConnected();
    } else {
      await this.serialize(() => this.endSession(session));
    }
  }

  // --------------------------------------------------------------- inside

  /**
   * The process is ending with a session up (an uncaught exception, an
   * unhandled rejection, process.exit()): nothing asynchronous runs any
   * more, so the rules, the routes and resolv.conf are put back here,
   * synchronously, and the TUN device is let go with the process's fds.
   * (Left to the journal, the dead device would keep blocking the tunnel's
   * traffic until the next start: right after a SIGKILL, needless here.)
   */
  private exiting(): void {
    const session = this.active;
    const routing = this.activeRouting;
    if (!session || routing === null) return;
    this.active = null;
    try {
      this.kernel.teardownSync(routing);
      session.release(); // the device goes with the process's fds
      const dns = session.dnsBackend;
      if (dns instanceof ResolvConfBackend) dns.restoreSync();
      // systemd-resolved forgets a link's DNS when the link goes (with the process).
      this.journal.clear();
    } catch (err) {
      // The journal stays: the next start finishes the job.
      process.stderr.write(
        `vpn-provider: at exit, tearing the session down: ${(err as Error).message} (the next start retries)\n`,
      );
    }
  }

  /**
   * SIGTERM or SIGINT with a session up: the session ends, then the process
   * with the same signal, unless the application listens for it too (then
   * the exit is the application's).
   */
  private signalled(signal: NodeJS.Signals): void {
    const others = process.listenerCount(signal) > 0;
    const done = others ? this.disconnect() : this.close();
    void done
      .catch((err: Error) => this.log(`vpn-provider: on ${signal}: ${err.message}`))
      .then(() => {
        if (!others) process.kill(process.pid, signal);
      });
  }

  private owned(providerId: string): Session {
    const s = this.active;
    if (!s || s.providerId !== providerId) throw new ChromeError('ERR_UNAUTHORIZED');
    return s;
  }

  /**
   * Ends `session` (default: the active one). Ownership ends at once; the
   * provider gets "error" (if a reason is given), then "disconnected"; the
   * device and what was applied with it are removed.
   */
  private async endSession(session: Session | null = this.active, error?: string): Promise<void> {
    if (!session || session !== this.active) return;
    debug(
      'ending the session of %s/%s%s',
      session.providerId,
      session.configId,
      error ? `: ${error}` : '',
    );
    this.active = null;
    this.activeRouting = null;
    this.watch.set(false);
    this.monitor.stop();
    this.connectedAt = null;
    this.sleepWatch?.stop();
    this.sleepWatch = null;
    const provider = this.provider(session.providerId);
    provider.attachDevice(null);
    try {
      await session.close();
      this.journal.clear();
    } catch (err) {
      this.log(
        `vpn-provider: tearing the session down: ${(err as Error).message} (the next start retries)`,
      );
    }
    if (error !== undefined) this.send(session.providerId, session.configId, 'error', error);
    this.send(session.providerId, session.configId, 'disconnected');
  }

  private send(providerId: string, configId: string, message: PlatformMessage, error = ''): void {
    this.providers.get(providerId)?.onPlatformMessage.dispatch(configId, message, error);
  }

  private uiEvent(providerId: string, event: UIEvent, id: string): void {
    this.provider(providerId).onUIEvent.dispatch(event, id);
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lifecycle.then(fn, fn);
    this.lifecycle = run.catch(() => undefined);
    return run;
  }

  private checkOpen(): void {
    if (this.closed) throw new VpnError('The platform is closed.', 'ERR_PLATFORM_CLOSED');
  }
}

/**
 * The fd of what protect() is given: an fd, an object with a numeric `fd`
 * (UdpSocket), a bound dgram.Socket (its handle lives behind Node's state
 * symbol), or a connected net.Socket.
 */
function socketFd(socket: unknown): number {
  if (typeof socket === 'number') {
    if (Number.isInteger(socket) && socket >= 0) return socket;
    throw argValueError('protect: an fd must be an integer from 0');
  }
  if (typeof socket === 'object' && socket !== null) {
    const o = socket as Record<string | symbol, unknown>;
    if (typeof o.fd === 'number' && o.fd >= 0) return o.fd;
    const state = Object.getOwnPropertySymbols(o).find((s) => s.description === 'state symbol');
    const handle = state
      ? (o[state] as { handle?: { fd?: unknown } } | undefined)?.handle
      : (o._handle as { fd?: unknown } | undefined);
    if (typeof handle?.fd === 'number' && handle.fd >= 0) return handle.fd;
    throw argValueError('protect: the socket has no fd yet (bind or connect it first)');
  }
  throw argTypeError('protect: socket must be a UdpSocket, a dgram or net socket, or an fd');
}

/** A platform, serving the command-line tool's control socket unless options.controlSocket is false. */
export function createPlatform(options: PlatformOptions = {}): Platform {
  const platform = new Platform(options);
  if (options.controlSocket !== false) {
    platform.serve(
      new ControlServer(platform, platform.stateDir, options.log ?? ((l) => console.warn(l))),
    );
  }
  return platform;
}
