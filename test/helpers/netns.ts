// Guards for tests that create TUN devices, addresses and routes. They run
// only inside a private network namespace (npm test starts the integration
// project under `unshare --net`), never in the host's. Without privileges, or
// outside such a namespace, they skip with the reason in the title; with
// VPN_PROVIDER_REQUIRE_PRIVILEGED=1 (set by CI) they fail instead.
import * as fs from 'node:fs';
import * as os from 'node:os';

function capNetAdmin(): boolean {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    return m !== null && (BigInt('0x' + m[1]) & (1n << 12n)) !== 0n;
  } catch {
    return false;
  }
}

// scripts/test.js records the namespace it was started in, then runs the
// integration project under `unshare --net`: we must be in another one.
function inPrivateNetns(): boolean {
  const outer = process.env.VPN_PROVIDER_OUTER_NETNS;
  try {
    return outer !== undefined && fs.readlinkSync('/proc/self/ns/net') !== outer;
  } catch {
    return false;
  }
}

function reason(): string | null {
  if (!capNetAdmin()) return 'needs CAP_NET_ADMIN (run npm test as root)';
  if (!fs.existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  if (!inPrivateNetns())
    return 'not inside a private network namespace: run them with npm test (it uses unshare --net)';
  return null;
}

export const netnsSkipReason = reason();
export const strict = process.env.VPN_PROVIDER_REQUIRE_PRIVILEGED === '1';

/** describe(), or a skip with the reason in its title (a failure under `strict`). */
function describeUnless(why: string | null, title: string, body: () => void): void {
  if (why === null) {
    describe(title, body);
  } else if (strict) {
    describe(title, () => {
      test(`cannot run: ${why}`, () => {
        throw new Error(`${title}: ${why} (VPN_PROVIDER_REQUIRE_PRIVILEGED=1)`);
      });
    });
  } else {
    describe.skip(`${title} [skipped: ${why}]`, body);
  }
}

/**
 * test(), or a skip with the reason in its title (a failure under `strict`),
 * for one test in a suite that can run the others.
 */
export function testUnless(
  why: string | null,
  title: string,
  fn: jest.ProvidesCallback,
  timeoutMs?: number,
): void {
  if (why === null) {
    test(title, fn, timeoutMs);
  } else if (strict) {
    test(`${title} [cannot run: ${why}]`, () => {
      throw new Error(`${title}: ${why} (VPN_PROVIDER_REQUIRE_PRIVILEGED=1)`);
    });
  } else {
    test.skip(`${title} [skipped: ${why}]`, fn, timeoutMs);
  }
}

/** Whether the running kernel is at least major.minor (uname's release). */
export function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(os.release());
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

/**
 * null where the kernel has UDP segmentation offload on TUN (TUN_F_USO4/6,
 * Linux 6.2), else why not. From the kernel's version, not from what our
 * code manages to switch on: on 6.2+ a device without USO is a failure.
 */
export const usoSkipReason = kernelAtLeast(6, 2)
  ? null
  : `Linux ${os.release()} has no UDP segmentation offload on TUN (6.2+)`;

/** describe() for tests that need a TUN device in a private namespace. */
export function describeNetns(title: string, body: () => void): void {
  describeUnless(netnsSkipReason, title, body);
}

export const SCRATCH_MARK =
  '# vpn-provider test scratch, bound over /etc/resolv.conf in a private mount namespace';

// Tests that mount file systems (a read-only or full state directory): only
// in the private mount namespace npm test runs the integration project in.
function mountReason(): string | null {
  const base = reason();
  if (base) return base;
  const outer = process.env.VPN_PROVIDER_OUTER_MNTNS;
  try {
    if (outer === undefined || fs.readlinkSync('/proc/self/ns/mnt') === outer) {
      return 'not inside a private mount namespace: run them with npm test';
    }
  } catch (err) {
    return `cannot read the mount namespace: ${(err as Error).message}`;
  }
  return null;
}

// DNS tests write /etc/resolv.conf: only when it is the runner's scratch file
// in a private mount namespace.
function dnsReason(): string | null {
  const base = mountReason();
  if (base) return base;
  try {
    if (!fs.readFileSync('/etc/resolv.conf', 'utf8').startsWith(SCRATCH_MARK)) {
      return '/etc/resolv.conf here is not the scratch file npm test binds over it';
    }
  } catch (err) {
    return `cannot check /etc/resolv.conf: ${(err as Error).message}`;
  }
  return null;
}

/** describe() for tests that write /etc/resolv.conf (the scratch copy). */
export function describeDns(title: string, body: () => void): void {
  describeUnless(dnsReason(), title, body);
}

/** describe() for tests that mount and unmount file systems. */
export function describeMounts(title: string, body: () => void): void {
  describeUnless(mountReason(), title, body);
}
