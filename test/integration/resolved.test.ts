// The systemd-resolved DNS backend against a real systemd-resolved, and the
// choice of backend by what answers. test/fixtures/resolved-child.js runs
// resolved (unpacked by scripts/test.js, never installed) with a private
// system bus, as PID 1 of its own network, mount and PID namespaces, drives
// a session through it and reports what resolvectl and dnsBackend saw.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeNetns, strict } from '../helpers/netns';

jest.setTimeout(60000);

const ROOT = process.env.VPN_PROVIDER_RESOLVED_ROOT;

/** Why resolved cannot be run here, or null. */
function why(): string | null {
  if (ROOT && fs.existsSync(path.join(ROOT, 'lib', 'systemd', 'systemd-resolved'))) return null;
  if (ROOT) return `VPN_PROVIDER_RESOLVED_ROOT=${ROOT} holds no lib/systemd/systemd-resolved`;
  return (
    process.env.VPN_PROVIDER_RESOLVED_SKIP ??
    'systemd-resolved is not unpacked (npm test does it: scripts/test.js, apt-get download + dpkg -x)'
  );
}

/** Runs the fixture; resolves with its report. */
function runFixture(root: string): Promise<Record<string, unknown>> {
  const preload = process.env.LD_PRELOAD;
  const node = preload ? ['env', `LD_PRELOAD=${preload}`, process.execPath] : [process.execPath];
  const env = { ...process.env };
  delete env.LD_PRELOAD; // for node only (a sanitized run), not for unshare
  const child = spawn(
    'unshare',
    [
      '--net',
      '--mount',
      '--pid',
      '--fork',
      '--mount-proc',
      '--',
      ...node,
      path.join(__dirname, '../fixtures/resolved-child.js'),
      root,
    ],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL'); // PID 1 of its namespace: everything in it goes
      reject(new Error(`resolved-child did not finish: ${out}${err}`));
    }, 50000);
    child.on('exit', () => {
      clearTimeout(t);
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, unknown>);
      } catch {
        reject(new Error(`resolved-child: ${out}${err}`));
      }
    });
  });
}

describeNetns('DNS through a real systemd-resolved', () => {
  const reason = why();
  const installable = process.env.VPN_PROVIDER_RESOLVED_INSTALLABLE !== '0';
  const title =
    'servers and domains go to the link in resolved, are reverted and go with the link; ' +
    'the backend is resolved only while it answers for this network namespace';
  const body = async () => {
    const seen = await runFixture(ROOT!);
    expect(seen.error).toBeUndefined();
    const link = seen.link as string;
    expect(seen).toMatchObject({
      // The bus is up, resolved is not: resolv.conf.
      withoutResolved: 'resolv.conf',
      withResolved: 'resolved',
      // A host's resolved outside our network namespace knows none of our links.
      fromOtherNetns: 'resolv.conf',
      applied: {
        dns: expect.stringMatching(
          new RegExp(`^Link \\d+ \\(${link}\\): 198\\.51\\.100\\.53 2001:db8::53$`),
        ),
        domain: expect.stringMatching(
          new RegExp(`^Link \\d+ \\(${link}\\): corp\\.example example\\.org$`),
        ),
      },
      // dnsMatchDomains: routing-only domains, and no default route for other names.
      split: {
        domain: expect.stringMatching(
          new RegExp(`^Link \\d+ \\(${link}\\): example\\.org ~corp\\.example$`),
        ),
        defaultRoute: expect.stringMatching(new RegExp(`^Link \\d+ \\(${link}\\): no$`)),
      },
      // setParameters without DNS: resolvectl revert.
      withoutDns: {
        dns: expect.stringMatching(new RegExp(`^Link \\d+ \\(${link}\\):$`)),
        domain: expect.stringMatching(new RegExp(`^Link \\d+ \\(${link}\\):$`)),
      },
      afterDisconnect: expect.stringMatching(/^error: .*No such device/),
      resolvConfUnchanged: true,
      // Its socket files stay when resolved is killed: they decide nothing.
      socketFilesLeft: expect.arrayContaining(['io.systemd.Resolve']),
      afterResolvedKilled: 'resolv.conf',
    });
    // resolved keeps the servers: nothing of resolv.conf in the journal.
    expect(seen.journal).not.toHaveProperty('resolvConfPath');
  };
  if (reason === null) {
    test(title, body);
  } else if (strict && installable) {
    test(`${title} [cannot run: ${reason}]`, () => {
      throw new Error(`${reason} (VPN_PROVIDER_REQUIRE_PRIVILEGED=1, and apt has the package)`);
    });
  } else {
    test.skip(`${title} [skipped: ${reason}]`, body);
  }
});
