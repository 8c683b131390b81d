// The control socket: how the command-line tool drives a running platform.
// A Unix socket in the state directory, mode 0600; a peer whose uid is not
// ours is refused (SO_PEERCRED), whatever the file's mode. One JSON request
// per line, one JSON answer per line. The server never keeps the process
// alive.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { debuglog } from 'node:util';
import { VpnError } from '../errors';
import { native } from '../native';
import type { SessionInfo } from './session';
import type { ConfigInfo, PlatformStatus } from './status';

const debug = debuglog('vpn-provider');

export const SOCKET_NAME = 'control.sock';
const MAX_LINE = 64 * 1024;

export interface ControlRequest {
  cmd: 'list' | 'connect' | 'disconnect' | 'status' | 'add' | 'create' | 'configure' | 'forget';
  name?: string;
  provider?: string;
}

export type ControlAnswer =
  { ok: true; result: unknown } | { ok: false; error: { message: string; code: string } };

/** A request as the CLI sends it: { cmd, name?, provider? }, all strings. */
function checkRequest(req: unknown): ControlRequest {
  const r = req as Record<string, unknown>;
  const ok =
    typeof req === 'object' &&
    req !== null &&
    !Array.isArray(req) &&
    typeof r.cmd === 'string' &&
    (r.name === undefined || typeof r.name === 'string') &&
    (r.provider === undefined || typeof r.provider === 'string');
  if (!ok) {
    throw new VpnError(
      'A request is { "cmd": string, "name"?: string, "provider"?: string }.',
      'ERR_BAD_REQUEST',
    );
  }
  return req as ControlRequest;
}

/** The handle of a net.Socket's fd (Node keeps it on an internal handle). */
function socketFd(socket: net.Socket): number {
  const handle = (socket as unknown as { _handle?: { fd?: number } })._handle;
  return typeof handle?.fd === 'number' ? handle.fd : -1;
}

/**
 * What the control socket asks of the platform it serves: the user's side
 * of it, nothing more (the platform implements it; this file does not know
 * the platform).
 */
export interface ControlTarget {
  configs(): ConfigInfo[];
  readonly session: SessionInfo | null;
  status(): PlatformStatus;
  providerIds(): string[];
  connect(providerId: string, configId: string): Promise<void>;
  disconnect(): Promise<void>;
  showAddDialog(providerId: string): void;
  createConfigFor(providerId: string, name: string): Promise<string>;
  showConfigureDialog(providerId: string, configId: string): void;
  removeConfig(providerId: string, configId: string): Promise<void>;
}

export class ControlServer {
  readonly path: string;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly platform: ControlTarget,
    stateDir: string,
    private readonly log: (line: string) => void,
  ) {
    this.path = path.join(stateDir, SOCKET_NAME);
  }

  /** Listens, unless another live platform serves this state directory. */
  async start(): Promise<boolean> {
    if (fs.existsSync(this.path)) {
      const alive = await new Promise<boolean>((resolve) => {
        const c = net.connect(this.path);
        c.once('connect', () => {
          c.destroy();
          resolve(true);
        });
        c.once('error', () => resolve(false));
      });
      if (alive) {
        this.log(
          `vpn-provider: another platform serves ${this.path}; this one has no control socket`,
        );
        return false;
      }
      fs.rmSync(this.path, { force: true }); // left by a process that died
    }
    const server = net.createServer((socket) => this.accept(socket));
    server.unref(); // from the start: a failed start must not hold the process
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // Created 0600 from the start: no window in which others could connect.
        const umask = process.umask(0o177);
        try {
          server.listen(this.path, () => resolve());
        } finally {
          process.umask(umask);
        }
      });
      fs.chmodSync(this.path, 0o600);
    } catch (err) {
      server.close();
      throw err;
    }
    this.server = server;
    return true;
  }

  close(): void {
    this.server?.close();
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    fs.rmSync(this.path, { force: true });
  }

  private accept(socket: net.Socket): void {
    socket.unref();
    socket.on('error', () => {});
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    let uid = -1;
    try {
      uid = native.peerCredentials(socketFd(socket)).uid;
    } catch {
      // unknown peer: refused below
    }
    if (uid !== process.getuid?.()) {
      const answer: ControlAnswer = {
        ok: false,
        error: {
          message: 'Refused: the control socket answers only its own user.',
          code: 'ERR_PEER_REFUSED',
        },
      };
      socket.end(JSON.stringify(answer) + '\n');
      return;
    }
    let buf = '';
    socket.setEncoding('utf8');
    const tooLong = () => {
      buf = '';
      socket.removeAllListeners('data');
      socket.end(
        JSON.stringify({
          ok: false,
          error: { message: 'Request too long.', code: 'ERR_TOO_LONG' },
        }) + '\n',
      );
    };
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.length > MAX_LINE) return tooLong();
        void this.answer(line).then((a) => {
          if (!socket.destroyed) socket.write(JSON.stringify(a) + '\n');
        });
      }
      if (buf.length > MAX_LINE) tooLong();
    });
  }

  private async answer(line: string): Promise<ControlAnswer> {
    try {
      let req: unknown;
      try {
        req = JSON.parse(line);
      } catch {
        throw new VpnError('The request is not JSON.', 'ERR_BAD_REQUEST');
      }
      return { ok: true, result: await this.run(checkRequest(req)) };
    } catch (err) {
      const e = err as { message?: string; code?: string };
      return {
        ok: false,
        error: { message: String(e.message ?? err), code: e.code ?? 'ERR_UNKNOWN' },
      };
    }
  }

  private async run(req: ControlRequest): Promise<unknown> {
    debug('control: %s %s', req.cmd, req.name ?? '');
    const p = this.platform;
    const name = (): string => {
      if (typeof req.name !== 'string' || req.name === '') {
        throw new VpnError(`${req.cmd} needs a configuration name.`, 'ERR_BAD_REQUEST');
      }
      return req.name;
    };
    switch (req.cmd) {
      case 'list':
        return p.configs().map((c) => ({
          ...c,
          active: p.session?.providerId === c.providerId && p.session?.configId === c.id,
        }));
      case 'status':
        return p.status();
      case 'connect': {
        const c = this.findConfig(name(), req.provider);
        await p.connect(c.providerId, c.id);
        return p.status();
      }
      case 'disconnect': {
        const was = p.session;
        await p.disconnect();
        return { disconnected: was !== null };
      }
      case 'add': {
        const provider = this.findProvider(req.provider);
        p.showAddDialog(provider);
        return { provider };
      }
      case 'create': {
        const provider = this.findProvider(req.provider);
        const id = await p.createConfigFor(provider, name());
        return { provider, id };
      }
      case 'configure': {
        const c = this.findConfig(name(), req.provider);
        p.showConfigureDialog(c.providerId, c.id);
        return c;
      }
      case 'forget': {
        const c = this.findConfig(name(), req.provider);
        await p.removeConfig(c.providerId, c.id);
        return c;
      }
      default:
        throw new VpnError(
          `Unknown command: ${String((req as { cmd?: unknown }).cmd)}`,
          'ERR_BAD_REQUEST',
        );
    }
  }

  private findConfig(name: string, provider?: string) {
    const found = this.platform
      .configs()
      .filter((c) => c.id === name && (!provider || c.providerId === provider));
    if (found.length === 0) {
      throw new VpnError(
        `No configuration "${name}"${provider ? ` for provider "${provider}"` : ''}.`,
        'ERR_NO_SUCH_CONFIG',
      );
    }
    if (found.length > 1) {
      throw new VpnError(
        `"${name}" exists for several providers (${found.map((c) => c.providerId).join(', ')}): give --provider.`,
        'ERR_AMBIGUOUS',
      );
    }
    return found[0];
  }

  private findProvider(provider?: string): string {
    if (provider) return provider;
    const ids = this.platform.providerIds();
    if (ids.length === 1) return ids[0];
    throw new VpnError(
      ids.length === 0
        ? 'No provider runs in this platform.'
        : `Several providers run (${ids.join(', ')}): give --provider.`,
      'ERR_AMBIGUOUS',
    );
  }
}
