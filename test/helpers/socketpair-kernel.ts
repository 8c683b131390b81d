// A Kernel for the platform's state machine without privileges: the
// session's "TUN device" is one end of a SOCK_SEQPACKET socketpair (the
// test holds the other, as the kernel's side of the tunnel), and addresses,
// routes and rules are only recorded.
import type { ValidParameters } from '../../lib/provider/validate';
import { native } from '../../lib/native';
import type { Kernel } from '../../lib/platform/kernel';
import { INCLUDED, EXCLUDED } from '../../lib/platform/routing';
import { RouteTable } from '../../lib/route';
import { TunDevice } from '../../lib/tun/device';

export interface SocketpairKernel extends Kernel {
  /** The other end of the current session's device (the kernel's side), or -1. */
  peer: number;
  /** What each configure() and routes().apply() was given, in order. */
  calls: string[];
}

export function socketpairKernel(): SocketpairKernel {
  const k: SocketpairKernel = {
    peer: -1,
    calls: [],
    async openDevice(options) {
      const [a, b] = native.socketpair();
      k.peer = b;
      k.calls.push('open');
      return TunDevice.fromFd(a, options, 'sp0', 0);
    },
    async configure(_device, p: ValidParameters) {
      k.calls.push(`configure ${p.address}/${p.prefixLength} mtu ${p.mtu}`);
    },
    routes(options) {
      return {
        async apply(p: ValidParameters) {
          k.calls.push(
            `routes table ${options.table}: ${p.inclusions.length} in, ${p.exclusions.length} around`,
          );
          const key = (c: { network: string; prefixLength: number }) =>
            `${c.network}/${c.prefixLength}`;
          return RouteTable.from([
            ...p.inclusions.map((c) => [key(c), INCLUDED] as const),
            ...p.exclusions.map((c) => [key(c), EXCLUDED] as const),
          ]);
        },
        async remove() {
          k.calls.push(`remove table ${options.table}`);
        },
      };
    },
    pickRouting: (base) => base,
    persist(_device, on) {
      k.calls.push(`persist ${on}`);
    },
    teardownSync(routing) {
      k.calls.push(`teardown table ${routing.table}`);
    },
  };
  return k;
}
