// What a session changes in the kernel, behind one interface: Linux's
// (a TUN device, rtnetlink), or a test's (a socketpair and nothing else),
// so that the platform's state machine (connect, parameters, timeouts,
// failures, packets both ways, teardown) runs under test without
// privileges. The session and the platform only talk to the kernel here.
import { native } from '../native';
import type { ValidParameters } from '../provider/validate';
import type { RouteTable } from '../route';
import { TunDevice, type TunDeviceOptions } from '../tun/device';
import {
  pickRouting,
  SessionRouting,
  type RoutingOptions,
  type SessionRoutingOptions,
} from './routing';

/** The routes and rules of one session. */
export interface SessionRoutes {
  /** Programs p's lists (replacing what an earlier call set); the in-process table. */
  apply(p: ValidParameters): Promise<RouteTable>;
  remove(): Promise<void>;
}

export interface Kernel {
  /** The session's device, down and unconfigured. */
  openDevice(options: TunDeviceOptions): Promise<TunDevice>;
  /** Addresses, MTU, transmit queue and link up for p; `old` is what was applied before. */
  configure(device: TunDevice, p: ValidParameters, old: ValidParameters | null): Promise<void>;
  routes(options: SessionRoutingOptions, ifindex: number): SessionRoutes;
  /** The table and rule priority of a new session (see routing.ts). */
  pickRouting(base: RoutingOptions, explicit: boolean): RoutingOptions;
  /** Whether the device outlives the process (fail closed after a SIGKILL). Synchronous. */
  persist(device: TunDevice, on: boolean): void;
  /** The session's rules and table, removed synchronously: the process's exit hook. */
  teardownSync(routing: RoutingOptions): void;
}

/** a.b.c.d with every host bit set, for prefixes that have a broadcast. */
export function defaultBroadcast(address: string, prefixLength: number): string | undefined {
  if (prefixLength > 30) return undefined;
  const v = address.split('.').reduce((a, p) => ((a << 8) | Number(p)) >>> 0, 0);
  const host = prefixLength === 0 ? 0xffffffff : (1 << (32 - prefixLength)) - 1;
  const b = (v | host) >>> 0;
  return [b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.');
}

export const linuxKernel: Kernel = {
  async openDevice(options) {
    const device = await TunDevice.open({ ...options, up: false });
    // A point-to-point tunnel needs no IPv6 link-local address; without one
    // the kernel sends no router solicitations into it. (Fails only where
    // IPv6 is off, which is fine.)
    await device.setLink({ ipv6LinkLocal: false }).catch(() => undefined);
    return device;
  },

  async configure(device, p, old) {
    if (old && (old.address !== p.address || old.prefixLength !== p.prefixLength)) {
      await device.deleteAddress({ address: old.address, prefixLength: old.prefixLength });
    }
    await device.addAddress({
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
      await device.deleteAddress(old.ipv6);
    }
    if (v6) await device.addAddress(v6);
    await device.setLink({ mtu: p.mtu, txQueueLen: p.txQueueLength, up: true });
  },

  routes: (options, ifindex) => new SessionRouting(options, ifindex),

  pickRouting,

  persist(device, on) {
    if (on) {
      native.setTunPersist(device.fd, true);
      return;
    }
    try {
      native.setTunPersist(device.fd, false);
    } catch {
      // the device was deleted under us (or the fd is closed): nothing persists
    }
  },

  teardownSync(routing) {
    native.flushRoutingSync({ table: routing.table, priority: routing.priority });
  },
};
