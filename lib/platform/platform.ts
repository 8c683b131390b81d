// The platform: what ChromeOS does for a vpnProvider extension. It keeps the
// configurations, connects and disconnects ("the user clicks"), creates the
// TUN device, applies what setParameters gives, and tears it all down. It
// runs in the provider's process, which must own the TUN fd.
import { argTypeError, argValueError, coded, rangeError, VpnError } from '../errors';
import { ChromeError, chromeErrorFor } from '../provider/errors';
import {
  VpnProvider,
  type PlatformMessage,
  type ProviderHost,
  type SetParametersResult,
  type UIEvent,
} from '../provider/provider';
import { checkTypes, sanityError, validate } from '../provider/validate';
import { native, type PacketData } from '../native';
import type { RouteTable } from '../route';
import type { EntryBatch, TrimOptions } from '../tun/device';
import * as fs from 'node:fs';
import { dnsBackend, ResolvConfBackend, type DnsOption } from './dns';
import { ControlServer } from './control';
import { Journal } from './journal';
import { NetworkMonitor, watchSleep, type LinkEvent, type SleepEvent } from './monitor';
import { DEFAULT_ROUTING, removeRouting, type RoutingOptions } from './routing';
import { ConfigStore, defaultStateDir, type StoredConfig } from './store';
import { removeLeftDevice, Session, type SessionInfo } from './session';

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
}

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
  dnsServers?: string[];
  domainSearch?: string[];
  inclusions?: string[];
  exclusions?: string[];
  /** Packets and bytes into the tunnel (read from the device) and out of it (written). */
  counters?: { inPackets: number; inBytes: number; outPackets: number; outBytes: number };
  /** Per second, over the last second. */
  rates?: { inPackets: number; inBytes: number; outPackets: number; outBytes: number } | null;
}

export interface ConfigInfo {
  providerId: string;
  id: string;
  name: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5 * 60 * 1000;

/** The longest configuration name or provider id, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 255;

/**
 * A configuration name or provider id: shown by the command-line tool and
 * kept in the store, so no control characters (a name must not be able to
 * drive the terminal that lists it) and at most MAX_NAME_LENGTH characters.
 * Chrome puts no limit on them; ChromeOS shows them in its UI.
 */
export function checkName(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string') throw argTypeError(`${what} must be a string`);
  if (value.length > MAX_NAME_LENGTH)
    throw argValueError(`${what} is longer than ${MAX_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(value))
    throw argValueError(`${what} holds a control character`);
}

/**
 * An interface name or pattern as the kernel takes it (dev_valid_name):
 * 1-15 bytes, not "." or "..", no "/", ":" or whitespace; at most one "%d".
 */
export function checkInterfaceName(value: unknown): asserts value is string {
  if (typeof value !== 'string') throw argTypeError('interfaceName must be a string');
  const bytes = Buffer.byteLength(value);
  const bad =
    bytes < 1 || bytes > 15
      ? 'must be 1 to 15 bytes'
      : value === '.' || value === '..'
        ? 'cannot be "." or ".."'
        : // eslint-disable-next-line no-control-regex
          /[/:\s\u0000-\u001f\u007f]/.test(value)
          ? 'cannot hold "/", ":", whitespace or control characters'
          : (value.match(/%/g) ?? []).length > (value.includes('%d') ? 1 : 0)
            ? 'may hold one "%d" and no other "%"'
            : null;
  if (bad)
    throw coded(
      new TypeError(`interfaceName ${bad}: ${JSON.stringify(value)}`),
      'ERR_INVALID_INTERFACE_NAME',
    );
}

function checkIds(providerId: unknown, configId: unknown): void {
  if (typeof providerId !== 'string') throw argTypeError('providerId must be a string');
  if (typeof configId !== 'string') throw argTypeError('configId must be a string');
}

function checkEnum(what: string, value: unknown, allowed: readonly string[]): void {
  if (typeof value !== 'string' || !allowed.includes(value))
    throw argValueError(`${what} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
}

// Routing tables the kernel uses itself: a session must never flush them.
const RESERVED_TABLES = new Set([0, 253, 254, 255]);

function checkOptions(o: PlatformOptions): void {
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

export class Platform implements ProviderHost {
  readonly stateDir: string;
  private readonly store: ConfigStore;
  private readonly connectTimeoutMs: number;
  private readonly interfaceName: string;
  private readonly offload: boolean;
  private readonly superPackets: boolean;
  private readonly gsoMaxSize: number | undefined;
  private readonly room: { headroom: number; tailroom: number };
  private readonly log: (line: string) => void;
  private readonly routing: RoutingOptions;
  private readonly dns: DnsOption;
  private readonly journal: Journal;
  /** Removal of what a killed process left behind; connect waits for it. */
  private readonly recovered: Promise<void>;
  /** providerId -> id -> config: the in-process view, kept in step with the store. */
  private readonly known = new Map<string, Map<string, StoredConfig>>();
  /** providerId -> names whose create is still being written. */
  private readonly pending = new Map<string, Set<string>>();
  private readonly providers = new Map<string, VpnProvider>();
  private active: Session | null = null;
  private readonly monitor = new NetworkMonitor((e) => this.networkEvent(e));
  private sleepWatch: { stop(): void } | null = null;
  private readonly control: ControlServer | null;
  private controlStarted: Promise<boolean> = Promise.resolve(false);
  private sampler: NodeJS.Timeout | null = null;
  private lastSample: { t: number; c: NonNullable<PlatformStatus['counters']> } | null = null;
  private rates: PlatformStatus['rates'] = null;
  private connectedAt: Date | null = null;
  /** connect/disconnect/close run one at a time, in call order. */
  private lifecycle: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly handleSignals: boolean;
  private readonly onSignal = (signal: NodeJS.Signals) => this.signalled(signal);
  private readonly onExit = () => this.exiting();
  /** The routing table of the active session (see pickRouting). */
  private activeTable: number | null = null;
  /** Whether options.routing named a table or priority (then no other is taken). */
  private readonly routingExplicit: boolean;
  private readonly onBeforeExit = () => void this.disconnect();

  constructor(options: PlatformOptions = {}) {
    checkOptions(options);
    this.stateDir = options.stateDir ?? defaultStateDir();
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.interfaceName = options.interfaceName ?? 'vpn%d';
    this.offload = options.offload !== false;
    this.superPackets = options.superPackets === true;
    this.gsoMaxSize = options.gsoMaxSize;
    this.room = { headroom: options.headroom ?? 0, tailroom: options.tailroom ?? 0 };
    this.handleSignals = options.handleSignals ?? true;
    this.log = options.log ?? ((line) => console.warn(line));
    this.routing = { ...DEFAULT_ROUTING, ...options.routing };
    this.routingExplicit =
      options.routing?.table !== undefined || options.routing?.priority !== undefined;
    this.dns = options.dns ?? 'auto';
    this.store = new ConfigStore(this.stateDir);
    for (const c of this.store.load()) this.byProvider(c.providerId).set(c.id, c);
    this.journal = new Journal(this.stateDir);
    this.recovered = this.recover();
    this.recovered.catch(() => {}); // reported by connect
    this.control =
      options.controlSocket === false ? null : new ControlServer(this, this.stateDir, this.log);
    if (this.control) {
      this.controlStarted = this.control.start().catch((err) => {
        this.log(`vpn-provider: no control socket: ${(err as Error).message}`);
        return false;
      });
    }
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
            dnsServers: p.dnsServers,
            domainSearch: p.domainSearch,
            inclusions: p.inclusions.map((c) => `${c.network}/${c.prefixLength}`),
            exclusions: p.exclusions.map((c) => `${c.network}/${c.prefixLength}`),
          }
        : {}),
      counters: this.sample(s),
      rates: this.rates,
    };
  }

  private sample(s: Session): NonNullable<PlatformStatus['counters']> {
    const c = s.device.counters();
    return {
      // Wire-size packets: a super-packet counts as the segments it carries.
      inPackets: c.rxPackets - c.rxSuperPackets + c.rxSegments,
      inBytes: c.rxBytes,
      outPackets: c.txPackets,
      outBytes: c.txBytes,
    };
  }

  private startSampler(): void {
    this.stopSampler();
    this.sampler = setInterval(() => {
      const s = this.active;
      if (!s) return;
      const now = { t: Date.now(), c: this.sample(s) };
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

  private stopSampler(): void {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = null;
    this.lastSample = null;
    this.rates = null;
  }

  /** Removes what a session of a process that died left in the kernel. */
  private async recover(): Promise<void> {
    let e;
    try {
      e = this.journal.read();
    } catch (err) {
      // Unreadable: what it recorded is lost, but a session of ours only
      // ever uses our table; its routes and rules go, and so does the file.
      this.log(`vpn-provider: ${(err as Error).message}; removing table ${this.routing.table}`);
      await removeRouting(this.routing.table);
      this.journal.clear();
      return;
    }
    if (!e || Journal.alive(e)) return;
    this.log(
      `vpn-provider: removing what the session of dead process ${e.pid} left (table ${e.table})`,
    );
    await removeRouting(e.table);
    await removeLeftDevice(e);
    if (e.resolvConfBackup && e.resolvConfPath && fs.existsSync(e.resolvConfBackup)) {
      fs.writeFileSync(e.resolvConfPath, fs.readFileSync(e.resolvConfBackup));
      fs.rmSync(e.resolvConfBackup);
    }
    this.journal.clear();
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
    const out: ConfigInfo[] = [];
    for (const [providerId, m] of this.known) {
      for (const c of m.values()) out.push({ providerId, id: c.id, name: c.name });
    }
    return out;
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
      this.requireConfig(providerId, configId);
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
      const routing = this.pickRouting();
      const session = await Session.open({
        providerId,
        configId,
        interfaceName: this.interfaceName,
        offload: this.offload,
        superPackets: this.superPackets,
        gsoMaxSize: this.gsoMaxSize,
        ...this.room,
        connectTimeoutMs: this.connectTimeoutMs,
        routing,
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
      this.activeTable = routing.table;
      this.watchProcess(true);
      const provider = this.provider(providerId);
      provider.attachDevice(session.device);
      await this.monitor.start();
      this.connectedAt = new Date();
      this.startSampler();
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
    this.requireConfig(providerId, configId);
    if (this.active?.providerId === providerId && this.active.configId === configId) {
      await this.serialize(() => this.endSession());
    }
    await this.store.update((cs) =>
      cs.filter((c) => !(c.providerId === providerId && c.id === configId)),
    );
    this.byProvider(providerId).delete(configId);
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
    this.requireConfig(providerId, configId);
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
    if (name === '') throw new ChromeError('ERR_EMPTY_NAME');
    const m = this.byProvider(providerId);
    const pending = this.pendingFor(providerId);
    if (m.has(name) || pending.has(name)) throw new ChromeError('ERR_NAME_NOT_UNIQUE');
    pending.add(name);
    try {
      const config: StoredConfig = { providerId, id: name, name };
      await this.store.update((cs) => {
        // Another process may have created it meanwhile.
        if (cs.some((c) => c.providerId === providerId && c.id === name))
          throw new ChromeError('ERR_NAME_NOT_UNIQUE');
        return [...cs, config];
      });
      m.set(name, config);
      return name;
    } finally {
      pending.delete(name);
    }
  }

  async destroyConfig(providerId: string, id: unknown): Promise<void> {
    this.checkOpen();
    if (typeof id !== 'string') throw argTypeError('destroyConfig: id must be a string');
    const m = this.byProvider(providerId);
    if (this.pendingFor(providerId).has(id)) throw new ChromeError('ERR_PENDING_CREATE');
    if (!m.has(id)) throw new ChromeError('ERR_UNAUTHORIZED');
    // Gone at once, as in Chrome: a createConfig right after succeeds.
    const config = m.get(id)!;
    m.delete(id);
    if (this.active?.providerId === providerId && this.active.configId === id) {
      await this.serialize(() => this.endSession());
    }
    try {
      await this.store.update((cs) =>
        cs.filter((c) => !(c.providerId === providerId && c.id === id)),
      );
    } catch (err) {
      // Still stored (a read-only or full state directory): still known.
      if (!m.has(id) && !this.pendingFor(providerId).has(id)) m.set(id, config);
      throw err;
    }
  }

  async setParameters(providerId: string, parameters: unknown): Promise<SetParametersResult> {
    this.checkOpen();
    checkTypes(parameters);
    const sanity = sanityError(parameters);
    if (sanity) throw chromeErrorFor(sanity);
    const session = this.owned(providerId);
    const { errors, value } = validate(parameters);
    if (!value) throw new VpnError(errors, 'ERR_INVALID_PARAMETERS');
    for (const w of value.warnings) this.log(`vpn-provider: setParameters: ${w}`);
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
   * While a session is active: SIGTERM and SIGINT end it (and then the
   * process, with the signal, when nothing else listens for it), and so does
   * the event loop running dry, so that no route or rule outlives the
   * process (process.exit() and SIGKILL leave them to the next start, which
   * reads the journal).
   */
  private watchProcess(on: boolean): void {
    process.removeListener('exit', this.onExit);
    if (on) process.on('exit', this.onExit);
    if (!this.handleSignals) return;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.removeListener(signal, this.onSignal);
      if (on) process.on(signal, this.onSignal);
    }
    process.removeListener('beforeExit', this.onBeforeExit);
    if (on) process.on('beforeExit', this.onBeforeExit);
  }

  /**
   * The routing table and rule priority of a new session: never one that a
   * rule in the kernel already uses (another instance's, live or killed, on
   * another state directory; our own leftovers were removed by recover()).
   * Given explicitly (options.routing), a taken one is refused; by default
   * the first free pair from 30100 up is taken.
   */
  private pickRouting(): RoutingOptions {
    const rules = native.listRules();
    const tables = new Set(rules.map((r) => r.table));
    const priorities = new Set(rules.map((r) => r.priority));
    const taken = (o: RoutingOptions) => tables.has(o.table) || priorities.has(o.priority);
    if (this.routingExplicit) {
      if (taken(this.routing)) {
        const holder = rules.find(
          (r) => r.table === this.routing.table || r.priority === this.routing.priority,
        );
        throw new VpnError(
          `Routing table ${this.routing.table} or rule priority ${this.routing.priority} is in use (a rule at priority ${holder?.priority} looks up table ${holder?.table}): another instance's, or choose other values with the routing option.`,
          'ERR_ROUTING_TABLE_IN_USE',
        );
      }
      return this.routing;
    }
    for (let k = 0; k < 1000; k++) {
      const o = { table: this.routing.table + k, priority: this.routing.priority + k };
      if (!taken(o)) return o;
    }
    throw new VpnError(
      `No free routing table and rule priority from ${this.routing.table} to ${this.routing.table + 999}.`,
      'ERR_ROUTING_TABLE_IN_USE',
    );
  }

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
    if (!session || this.activeTable === null) return;
    this.active = null;
    try {
      native.flushRoutingSync({ table: this.activeTable });
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

  private signalled(signal: NodeJS.Signals): void {
    this.watchProcess(false); // a second signal takes the default action at once
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
    this.active = null;
    this.activeTable = null;
    this.watchProcess(false);
    this.monitor.stop();
    this.stopSampler();
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

  /** Throws ERR_NO_SUCH_CONFIG unless the provider has that configuration. */
  private requireConfig(providerId: string, configId: string): void {
    if (!this.byProvider(providerId).has(configId)) {
      throw new VpnError(
        `No configuration "${configId}" for provider "${providerId}".`,
        'ERR_NO_SUCH_CONFIG',
      );
    }
  }

  private byProvider(providerId: string): Map<string, StoredConfig> {
    let m = this.known.get(providerId);
    if (!m) {
      m = new Map();
      this.known.set(providerId, m);
    }
    return m;
  }

  private pendingFor(providerId: string): Set<string> {
    let s = this.pending.get(providerId);
    if (!s) {
      s = new Set();
      this.pending.set(providerId, s);
    }
    return s;
  }

  private checkOpen(): void {
    if (this.closed) throw new VpnError('The platform is closed.', 'ERR_PLATFORM_CLOSED');
  }
}

export function createPlatform(options: PlatformOptions = {}): Platform {
  return new Platform(options);
}
