// Watches the physical network as ChromeOS does for a VPN: the default
// route of the main table (IPv4, else IPv6) and the carrier of its link.
// Losing it is linkDown, getting it back linkUp, another interface taking
// it linkChanged. It also watches the session's own TUN device: deleted
// under the session (ip link del), it must end the session whether or not
// anything reads from the device (a read would notice; a session whose
// provider has no packet listener reads nothing). rtnetlink tells us that
// something changed (native Monitor); we look again after a short settle
// time.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { native } from '../native';

export type LinkEvent = 'linkDown' | 'linkUp' | 'linkChanged';
export type SleepEvent = 'suspend' | 'resume';

const IFF_UP = 0x1;
const IFF_LOWER_UP = 0x10000;
const SETTLE_MS = 30;

/** The ifindex of the usable default route, or null. */
export async function defaultInterface(): Promise<number | null> {
  for (const family of [4, 6] as const) {
    const r = await native.defaultRoute(family);
    if (!r) continue;
    try {
      const link = await native.linkInfo(r.ifindex);
      if (link.flags & IFF_UP && link.flags & IFF_LOWER_UP) return r.ifindex;
    } catch {
      // The link went away between the two questions: no route.
    }
  }
  return null;
}

/** False only when the kernel says there is no such link (ENODEV). */
async function linkExists(ifindex: number): Promise<boolean> {
  try {
    await native.linkInfo(ifindex);
    return true;
  } catch (err) {
    return (err as { code?: string }).code !== 'ENODEV';
  }
}

export class NetworkMonitor {
  private handle: { close(): void } | null = null;
  private last: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> = Promise.resolve();
  private device: { ifindex: number; onGone: () => void } | null = null;

  constructor(private readonly onEvent: (event: LinkEvent) => void) {}

  /**
   * Starts watching; with `device`, also that link: `onGone` once when it
   * no longer exists.
   */
  async start(device?: { ifindex: number; onGone: () => void }): Promise<void> {
    this.device = device ?? null;
    if (this.handle) return;
    this.last = await defaultInterface();
    this.handle = new native.Monitor(() => this.schedule());
  }

  stop(): void {
    this.device = null;
    this.handle?.close();
    this.handle = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.timer || !this.handle) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.checking = this.checking.then(() => this.check());
    }, SETTLE_MS);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    if (!this.handle) return;
    const device = this.device;
    if (device && !(await linkExists(device.ifindex))) {
      if (this.device === device) {
        this.device = null;
        device.onGone();
      }
      return;
    }
    const now = await defaultInterface().catch(() => this.last);
    const prev = this.last;
    this.last = now;
    if (prev === now || !this.handle) return;
    if (now === null) this.onEvent('linkDown');
    else if (prev === null) this.onEvent('linkUp');
    else this.onEvent('linkChanged');
  }
}

/** Parses `gdbus monitor` output for logind's PrepareForSleep signal. */
export function parseSleepSignal(line: string): SleepEvent | null {
  const m = /PrepareForSleep \((true|false),?\)/.exec(line);
  if (!m) return null;
  return m[1] === 'true' ? 'suspend' : 'resume';
}

/**
 * systemd-logind's PrepareForSleep, where a system bus and gdbus exist: a
 * child process with fixed arguments, killed with the watcher. Returns null
 * where there is no such signal to watch.
 */
export function watchSleep(onEvent: (event: SleepEvent) => void): { stop(): void } | null {
  if (!fs.existsSync('/run/dbus/system_bus_socket')) return null;
  let child: ChildProcess;
  try {
    child = spawn(
      'gdbus',
      [
        'monitor',
        '--system',
        '--dest',
        'org.freedesktop.login1',
        '--object-path',
        '/org/freedesktop/login1',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
  } catch {
    return null;
  }
  child.on('error', () => {}); // no gdbus: no sleep events
  child.unref();
  (child.stdout as NodeJS.ReadableStream & { unref?: () => void }).unref?.();
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const e = parseSleepSignal(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (e) onEvent(e);
    }
  });
  return { stop: () => child.kill() };
}
