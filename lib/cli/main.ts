// vpn-provider: the command-line tool. It talks to a running platform
// through the control socket in the platform's state directory.
//
//   vpn-provider list | status [--watch] | connect NAME | disconnect
//               | add | create NAME | configure NAME | forget NAME
//               | run-extension DIR
//   options: --json, --provider ID, --state-dir DIR, --no-dns
// run-extension is the one command that hosts a platform (and loads the
// addon): it runs an extension's folder until SIGINT or SIGTERM, and the
// other commands drive it.
// Exits 0 on success; on failure prints one line and exits 1 (2 for usage).
import * as net from 'node:net';
import * as path from 'node:path';
import { inspect } from 'node:util';
import type { ControlAnswer, ControlRequest } from '../platform/control';
import { SOCKET_NAME } from '../platform/control';
import type { PlatformStatus } from '../platform/status';
import { defaultStateDir } from '../platform/store';

const COMMANDS = [
  'list',
  'status',
  'connect',
  'disconnect',
  'add',
  'create',
  'configure',
  'forget',
  'run-extension',
] as const;
const NEEDS_NAME = new Set(['connect', 'create', 'configure', 'forget', 'run-extension']);

const USAGE = `usage: vpn-provider <command> [options]
commands:
  list                 configurations of every provider
  status [--watch]     state, interface, addresses, routes, counters and rates
  connect NAME         connect a configuration (as the user clicking connect)
  disconnect           end the session
  add                  ask the provider to show its add dialog
  create NAME          the platform creates a configuration (onConfigCreated)
  configure NAME       ask the provider to show its configure dialog
  forget NAME          remove a configuration (onConfigRemoved)
  run-extension DIR    run a Chrome extension's folder (manifest.json and its
                       background scripts) as its platform, until Ctrl-C
options:
  --json               machine-readable output
  --provider ID        which provider, where it is ambiguous
  --state-dir DIR      the platform's state directory (default ${defaultStateDir()})
  --no-dns             run-extension: leave the system's DNS settings alone`;

interface Args {
  cmd: (typeof COMMANDS)[number];
  name?: string;
  json: boolean;
  watch: boolean;
  provider?: string;
  stateDir: string;
  dns: boolean;
}

class UsageError extends Error {}

export function parseArgs(argv: string[]): Args {
  const rest: string[] = [];
  let json = false;
  let watch = false;
  let dns = true;
  let provider: string | undefined;
  let stateDir = defaultStateDir();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--watch') watch = true;
    else if (a === '--no-dns') dns = false;
    else if (a === '--provider' || a === '--state-dir') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      if (a === '--provider') provider = v;
      else stateDir = v;
    } else if (a === '-h' || a === '--help') throw new UsageError('');
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
    else rest.push(a);
  }
  const cmd = rest[0] as Args['cmd'];
  if (!COMMANDS.includes(cmd)) throw new UsageError(cmd ? `unknown command ${cmd}` : 'no command');
  const name = rest[1];
  if (NEEDS_NAME.has(cmd) && !name)
    throw new UsageError(
      cmd === 'run-extension'
        ? 'run-extension needs a folder'
        : `${cmd} needs a configuration name`,
    );
  if (!dns && cmd !== 'run-extension') throw new UsageError('--no-dns goes with run-extension');
  if (rest.length > (NEEDS_NAME.has(cmd) ? 2 : 1)) throw new UsageError('too many arguments');
  if (watch && cmd !== 'status') throw new UsageError('--watch goes with status');
  return { cmd, name, json, watch, provider, stateDir, dns };
}

/** Sends requests on one connection; resolves each answer in order. */
class Client {
  private socket: net.Socket;
  private buf = '';
  private waiting: ((a: ControlAnswer) => void)[] = [];
  private failed: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.waiting.shift()?.(JSON.parse(line) as ControlAnswer);
      }
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const w of this.waiting.splice(0))
        w({ ok: false, error: { message: err.message, code: 'ERR_SOCKET' } });
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('the platform closed the connection')));
  }

  static connect(socketPath: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => resolve(new Client(s)));
      s.once('error', (err: NodeJS.ErrnoException) => {
        const why =
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
            ? `no platform is running with state directory ${path.dirname(socketPath)}`
            : err.code === 'EACCES'
              ? `not allowed to use ${socketPath} (run as the platform's user)`
              : err.message;
        reject(new Error(why));
      });
    });
  }

  request(req: ControlRequest): Promise<ControlAnswer> {
    if (this.failed)
      return Promise.resolve({
        ok: false,
        error: { message: this.failed.message, code: 'ERR_SOCKET' },
      });
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.socket.write(JSON.stringify(req) + '\n');
    });
  }

  /** Done: no half-open socket may keep the process alive. */
  close(): void {
    this.socket.destroy();
  }
}

const units = (n: number, unit: string) => {
  const k = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (n >= 1000 && i < k.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${k[i]}${unit}`;
};

export function formatStatus(s: PlatformStatus): string[] {
  if (s.state === 'disconnected') return ['state: disconnected'];
  const lines = [
    `state: ${s.state}  provider: ${s.providerId}  config: ${s.configId}  interface: ${s.interfaceName}`,
  ];
  if (s.address) {
    lines.push(
      `address: ${s.address}${s.ipv6Address ? ` ${s.ipv6Address}` : ''}  mtu: ${s.mtu}  dns: ${s.dnsServers?.join(' ') || '-'}`,
    );
    const list = (xs: string[] = []) =>
      xs.length > 6 ? `${xs.slice(0, 6).join(' ')} ... (${xs.length})` : xs.join(' ') || '-';
    lines.push(`routes in: ${list(s.inclusions)}`);
    lines.push(`routes around: ${list(s.exclusions)}`);
    if (s.blockOutside) lines.push('outside the tunnel: blocked (blockOutside)');
    const uids = (rs: [number, number][]) =>
      rs.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(' ');
    if (s.allowedUids) lines.push(`users: only ${uids(s.allowedUids)}`);
    if (s.disallowedUids) lines.push(`users: all but ${uids(s.disallowedUids)}`);
  }
  if (s.counters) {
    const c = s.counters;
    lines.push(
      `into tunnel: ${c.inPackets} packets ${units(c.inBytes, 'B')}  out of tunnel: ${c.outPackets} packets ${units(c.outBytes, 'B')}`,
    );
  }
  const r = s.rates;
  lines.push(
    r
      ? `rates: in ${units(r.inPackets, 'pkt/s')} ${units(r.inBytes * 8, 'bit/s')}  out ${units(r.outPackets, 'pkt/s')} ${units(r.outBytes * 8, 'bit/s')}`
      : 'rates: -',
  );
  return lines;
}

function human(cmd: Args['cmd'], result: unknown): string[] {
  switch (cmd) {
    case 'list': {
      const rows = result as { providerId: string; id: string; active: boolean }[];
      if (rows.length === 0) return ['no configurations'];
      return rows.map((r) => `${r.active ? '*' : ' '} ${r.id}  (${r.providerId})`);
    }
    case 'status':
    case 'connect':
      return formatStatus(result as PlatformStatus);
    case 'disconnect':
      return [(result as { disconnected: boolean }).disconnected ? 'disconnected' : 'no session'];
    case 'add':
      return [`asked ${(result as { provider: string }).provider} to show its add dialog`];
    case 'create':
      return [`created ${(result as { id: string }).id}`];
    case 'configure':
      return [
        `asked ${(result as { providerId: string }).providerId} to show the configure dialog of ${(result as { id: string }).id}`,
      ];
    case 'forget':
      return [`forgot ${(result as { id: string }).id}`];
    case 'run-extension':
      return [];
  }
}

export async function main(
  argv: string[],
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    const m = (e as Error).message;
    // Asked for (--help): the usage is the output, on stdout, exit 0.
    if (m) err(`vpn-provider: ${m}\n${USAGE}\n`);
    else out(`${USAGE}\n`);
    return m ? 2 : 0;
  }
  if (args.cmd === 'run-extension') return runExtensionCommand(args, out, err);
  let client: Client;
  try {
    client = await Client.connect(path.join(args.stateDir, SOCKET_NAME));
  } catch (e) {
    err(`vpn-provider: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    const req: ControlRequest = { cmd: args.cmd, name: args.name, provider: args.provider };
    if (!args.watch) {
      const a = await client.request(req);
      if (!a.ok) {
        err(args.json ? JSON.stringify(a) + '\n' : `vpn-provider: ${a.error.message}\n`);
        return 1;
      }
      out(
        args.json
          ? JSON.stringify(a.result, null, 2) + '\n'
          : human(args.cmd, a.result).join('\n') + '\n',
      );
      return 0;
    }
    return await watch(client, args.json, out, err);
  } finally {
    client.close();
  }
}

/**
 * run-extension DIR: the extension runs, its platform serves the control
 * socket, until SIGINT or SIGTERM (then the session ends and everything is
 * released). An error thrown later by the extension's code (a timer's
 * callback, say) is reported and the extension goes on, as in Chrome.
 */
async function runExtensionCommand(
  args: Args,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  // Loaded here only: the other commands never load the addon.
  const { runExtension } = await import('../chrome/extension');
  const say = (s: string) => err(`${s}\n`);
  const console = {
    log: (...a: unknown[]) => out(`${format(a)}\n`),
    info: (...a: unknown[]) => out(`${format(a)}\n`),
    debug: (...a: unknown[]) => out(`${format(a)}\n`),
    warn: (...a: unknown[]) => say(format(a)),
    error: (...a: unknown[]) => say(format(a)),
  };
  const uncaught = (e: unknown) => say(`Uncaught ${(e as Error)?.stack ?? String(e)}`);
  let ext;
  try {
    ext = await runExtension(args.name!, {
      stateDir: args.stateDir,
      providerId: args.provider,
      dns: args.dns ? 'auto' : false,
      console,
    });
  } catch (e) {
    err(`vpn-provider: ${(e as Error).message}\n`);
    return 1;
  }
  const socket = await ext.platform.controlReady;
  out(
    `${ext.manifest.name} ${ext.manifest.version} runs as provider ${ext.providerId}` +
      (socket ? `; vpn-provider list / connect NAME --state-dir ${args.stateDir}` : '') +
      '\n',
  );
  process.on('uncaughtException', uncaught);
  const keepAlive = setInterval(() => {}, 1 << 30);
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  // Kept (not once) until closed: the platform, seeing a listener of ours,
  // ends the session and leaves the exit to us.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await stopped;
    await ext.close();
    return 0;
  } finally {
    clearInterval(keepAlive);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.off('uncaughtException', uncaught);
  }
}

function format(args: unknown[]): string {
  return args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' ');
}

/** status --watch: redraws in place on a terminal, plain lines otherwise; until Ctrl-C. */
async function watch(
  client: Client,
  json: boolean,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const tty = process.stdout.isTTY && !json;
  let drawn = 0;
  let stop = false;
  const onSig = () => {
    stop = true;
  };
  process.once('SIGINT', onSig);
  try {
    while (!stop) {
      const a = await client.request({ cmd: 'status' });
      if (!a.ok) {
        err(`vpn-provider: ${a.error.message}\n`);
        return 1;
      }
      if (json) {
        out(JSON.stringify(a.result) + '\n');
      } else {
        const lines = formatStatus(a.result as PlatformStatus);
        if (tty && drawn) out(`\x1b[${drawn}A`);
        out(lines.map((l) => (tty ? `\x1b[2K${l}` : l)).join('\n') + '\n');
        drawn = lines.length;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    return 0;
  } finally {
    process.off('SIGINT', onSig);
  }
}

export function run(): void {
  // A reader that goes away (`status --watch --json | head`) is the end of
  // the output, not an error with a stack.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
