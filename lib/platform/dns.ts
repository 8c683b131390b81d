// DNS for the session: systemd-resolved when it answers (per-link servers and
// domains through `resolvectl`, with fixed arguments and values checked
// first; they go when the link goes), else a resolv.conf backend that keeps
// the original next to the journal and writes it back on disconnect, or on
// the next start after a crash. `dns: false` leaves DNS alone (servers).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { VpnError } from '../errors';
import { validDomain } from '../provider/validate';
import { checkInterfaceName } from './names';

const run = promisify(execFile);

export type DnsOption = false | 'auto' | { resolvConf: string };

export interface DnsBackend {
  readonly kind: 'resolved' | 'resolv.conf';
  /**
   * The tunnel's DNS: servers, search domains, and (resolved only) the
   * domains whose names alone go to these servers.
   */
  apply(
    interfaceName: string,
    servers: string[],
    domains: string[],
    matchDomains?: string[],
  ): Promise<void>;
  restore(): Promise<void>;
}

function checkValues(servers: string[], domains: string[]): void {
  for (const s of servers) {
    if (!net.isIP(s)) throw new VpnError(`Not a DNS server address: "${s}"`, 'ERR_INVALID_DNS');
  }
  for (const d of domains) {
    if (!validDomain(d)) throw new VpnError(`Not a search domain: "${d}"`, 'ERR_INVALID_DNS');
  }
}

/** dnsMatchDomains where no resolver can route names by domain. */
export function needsResolved(): VpnError {
  return new VpnError(
    'dnsMatchDomains needs systemd-resolved: resolv.conf sends every name to every server it lists.',
    'ERR_INVALID_DNS',
  );
}

export class ResolvConfBackend implements DnsBackend {
  readonly kind = 'resolv.conf' as const;
  readonly backup: string;

  constructor(
    readonly file: string,
    stateDir: string,
  ) {
    this.backup = path.join(stateDir, 'resolv.conf.orig');
  }

  async apply(
    interfaceName: string,
    servers: string[],
    domains: string[],
    matchDomains: string[] = [],
  ): Promise<void> {
    checkValues(servers, domains);
    if (matchDomains.length > 0) throw needsResolved();
    // Keep the original once per session (a second setParameters must not
    // take our own file for it).
    if (!fs.existsSync(this.backup)) {
      fs.writeFileSync(this.backup, fs.readFileSync(this.file), { mode: 0o600 });
    }
    const lines = [
      `# Written by vpn-provider for ${interfaceName}; the original comes back on disconnect.`,
      ...servers.map((s) => `nameserver ${s}`),
      ...(domains.length ? [`search ${domains.join(' ')}`] : []),
    ];
    // In place: /etc/resolv.conf may be a bind mount or a symlink's target.
    fs.writeFileSync(this.file, lines.join('\n') + '\n');
  }

  async restore(): Promise<void> {
    this.restoreSync();
  }

  /** The same, synchronously: for the process's 'exit' hook. */
  restoreSync(): void {
    restoreResolvConf(this.file, this.backup);
  }
}

/**
 * Puts the original resolv.conf kept at `backup` back into `file`, byte for
 * byte and in place (it may be a bind mount or a symlink's target), then
 * removes the copy; nothing without a copy. The one restore, for a session
 * ending and for the next start after a crash.
 */
export function restoreResolvConf(file: string, backup: string): void {
  if (!fs.existsSync(backup)) return;
  fs.writeFileSync(file, fs.readFileSync(backup));
  fs.rmSync(backup);
}

export class ResolvedBackend implements DnsBackend {
  readonly kind = 'resolved' as const;
  private link: string | null = null;

  async apply(
    interfaceName: string,
    servers: string[],
    domains: string[],
    matchDomains: string[] = [],
  ): Promise<void> {
    checkValues(servers, [...domains, ...matchDomains]);
    checkInterfaceName(interfaceName, { pattern: false });
    this.link = interfaceName;
    await run('resolvectl', ['dns', interfaceName, ...servers]);
    // "~domain": a routing-only domain (resolved.conf(5)); with any, the
    // link is no default route for other names, so they stay off the tunnel.
    await run('resolvectl', [
      'domain',
      interfaceName,
      ...domains,
      ...matchDomains.map((d) => `~${d}`),
    ]);
    await run('resolvectl', ['default-route', interfaceName, String(matchDomains.length === 0)]);
  }

  async restore(): Promise<void> {
    if (!this.link) return;
    const link = this.link;
    this.link = null;
    // The link may already be gone (its settings went with it).
    await run('resolvectl', ['revert', link]).catch(() => undefined);
  }
}

const BUS_TIMEOUT = ['--timeout=2'];

/**
 * Whether systemd-resolved answers on the system bus for this network
 * namespace: the bus names the process that owns org.freedesktop.resolve1
 * (without starting one), that process manages our network namespace (a
 * resolved outside it knows none of our links), and it answers a call. A
 * socket file left in /run says nothing: only an answer counts.
 */
export async function resolvedAnswers(): Promise<boolean> {
  const opts = { timeout: 3000 };
  try {
    const { stdout } = await run(
      'busctl',
      [
        '--system',
        ...BUS_TIMEOUT,
        'call',
        'org.freedesktop.DBus',
        '/org/freedesktop/DBus',
        'org.freedesktop.DBus',
        'GetConnectionUnixProcessID',
        's',
        'org.freedesktop.resolve1',
      ],
      opts,
    );
    const pid = /^u (\d+)$/.exec(stdout.trim())?.[1];
    if (pid === undefined) return false;
    let theirs: string | null = null;
    try {
      theirs = fs.readlinkSync(`/proc/${pid}/ns/net`);
    } catch {
      // Not ours to read (another uid without CAP_SYS_PTRACE): the common
      // case of a host's resolved, in the namespace we are in.
    }
    if (theirs !== null && theirs !== fs.readlinkSync('/proc/self/ns/net')) return false;
    await run(
      'busctl',
      [
        '--system',
        ...BUS_TIMEOUT,
        '--auto-start=no',
        'call',
        'org.freedesktop.resolve1',
        '/org/freedesktop/resolve1',
        'org.freedesktop.DBus.Peer',
        'Ping',
      ],
      opts,
    );
    return true;
  } catch {
    return false; // no busctl, no bus, no resolved, or it did not answer
  }
}

/** The backend for an option: resolved if it answers (resolvedAnswers), else /etc/resolv.conf. */
export async function dnsBackend(option: DnsOption, stateDir: string): Promise<DnsBackend | null> {
  if (option === false) return null;
  if (option !== 'auto') return new ResolvConfBackend(option.resolvConf, stateDir);
  if (await resolvedAnswers()) return new ResolvedBackend();
  return new ResolvConfBackend('/etc/resolv.conf', stateDir);
}
