// chrome.sockets.udp over the package's own UdpSocket (lib/udp): create
// makes an id, bind opens and binds the socket (IPv4 for an IPv4 address,
// dual-stack IPv6 otherwise), send takes an ArrayBuffer, onReceive hands
// each datagram in its own ArrayBuffer. Failures answer as Chrome does: a
// negative net error code in the callback's result and
// runtime.lastError "net::ERR_...", or "Socket not found".
import * as dns from 'node:dns';
import * as net from 'node:net';
import { types } from 'node:util';
import { argTypeError, VpnError } from '../errors';
import { ChromeEvent } from '../events';
import { UdpSocket } from '../udp';
import { facade, guard, type EventFacade } from './absent';
import { FailureWithArguments, type Caller } from './call';

/** Chrome's net error codes (net/base/net_error_list.h) for what a UDP socket meets. */
export const NET_ERRORS = {
  OK: 0,
  ERR_FAILED: -2,
  ERR_INVALID_ARGUMENT: -4,
  ERR_ACCESS_DENIED: -10,
  ERR_INSUFFICIENT_RESOURCES: -12,
  ERR_SOCKET_NOT_CONNECTED: -15,
  ERR_CONNECTION_REFUSED: -102,
  ERR_CONNECTION_FAILED: -104,
  ERR_NAME_NOT_RESOLVED: -105,
  ERR_INTERNET_DISCONNECTED: -106,
  ERR_ADDRESS_INVALID: -108,
  ERR_ADDRESS_UNREACHABLE: -109,
  ERR_NETWORK_ACCESS_DENIED: -138,
  ERR_MSG_TOO_BIG: -142,
  ERR_ADDRESS_IN_USE: -147,
} as const;
type NetError = keyof typeof NET_ERRORS;

const FROM_ERRNO: Record<string, NetError> = {
  EADDRINUSE: 'ERR_ADDRESS_IN_USE',
  EADDRNOTAVAIL: 'ERR_ADDRESS_INVALID',
  EAFNOSUPPORT: 'ERR_ADDRESS_INVALID',
  EACCES: 'ERR_NETWORK_ACCESS_DENIED',
  EPERM: 'ERR_NETWORK_ACCESS_DENIED',
  ECONNREFUSED: 'ERR_CONNECTION_REFUSED',
  EHOSTUNREACH: 'ERR_ADDRESS_UNREACHABLE',
  ENETUNREACH: 'ERR_INTERNET_DISCONNECTED',
  EMSGSIZE: 'ERR_MSG_TOO_BIG',
  EINVAL: 'ERR_INVALID_ARGUMENT',
  ENOBUFS: 'ERR_INSUFFICIENT_RESOURCES',
  ENOMEM: 'ERR_INSUFFICIENT_RESOURCES',
  ENOTFOUND: 'ERR_NAME_NOT_RESOLVED',
  EAI_AGAIN: 'ERR_NAME_NOT_RESOLVED',
};

function netError(err: unknown): NetError {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code in FROM_ERRNO) return FROM_ERRNO[code];
  // The addon's argument checks (an address that is no IP, a port out of range).
  if ((err as { name?: unknown })?.name === 'TypeError') return 'ERR_ADDRESS_INVALID';
  if ((err as { name?: unknown })?.name === 'RangeError') return 'ERR_INVALID_ARGUMENT';
  return 'ERR_FAILED';
}

/** A failure with the result code as its callback's argument(s). */
function failed(name: NetError, args: (code: number) => unknown[]): FailureWithArguments {
  return new FailureWithArguments(`net::${name}`, name, args(NET_ERRORS[name]));
}

const notFound = () => new VpnError('Socket not found', 'ERR_SOCKET_NOT_FOUND');

export interface SocketProperties {
  persistent?: boolean;
  name?: string;
  bufferSize?: number;
}

export interface SocketInfo {
  socketId: number;
  persistent: boolean;
  name?: string;
  bufferSize?: number;
  paused: boolean;
  localAddress?: string;
  localPort?: number;
}

export interface ReceiveInfo {
  socketId: number;
  data: ArrayBuffer;
  remoteAddress: string;
  remotePort: number;
}

export interface ReceiveErrorInfo {
  socketId: number;
  resultCode: number;
}

export interface SocketsUdp {
  create(callback: (info: { socketId: number }) => void): unknown;
  create(properties?: SocketProperties, callback?: (info: { socketId: number }) => void): unknown;
  update(socketId: number, properties: SocketProperties, callback?: () => void): unknown;
  setPaused(socketId: number, paused: boolean, callback?: () => void): unknown;
  bind(
    socketId: number,
    address: string,
    port: number,
    callback?: (result: number) => void,
  ): unknown;
  send(
    socketId: number,
    data: ArrayBuffer,
    address: string,
    port: number,
    callback?: (info: { resultCode: number; bytesSent?: number }) => void,
  ): unknown;
  close(socketId: number, callback?: () => void): unknown;
  getInfo(socketId: number, callback?: (info: SocketInfo) => void): unknown;
  getSockets(callback?: (infos: SocketInfo[]) => void): unknown;
  readonly onReceive: EventFacade<[ReceiveInfo]>;
  readonly onReceiveError: EventFacade<[ReceiveErrorInfo]>;
}

interface Entry {
  id: number;
  properties: SocketProperties;
  paused: boolean;
  socket: UdpSocket | null;
  binding: boolean;
}

const invocation = (api: string, why: string) =>
  argTypeError(`Error in invocation of sockets.udp.${api}: ${why}`);

function checkProperties(api: string, p: unknown): SocketProperties {
  if (p === undefined) return {};
  if (typeof p !== 'object' || p === null) throw invocation(api, 'properties must be an object.');
  const o = p as SocketProperties;
  if (o.persistent !== undefined && typeof o.persistent !== 'boolean')
    throw invocation(api, 'properties.persistent must be a boolean.');
  if (o.name !== undefined && typeof o.name !== 'string')
    throw invocation(api, 'properties.name must be a string.');
  if (o.bufferSize !== undefined && !Number.isInteger(o.bufferSize))
    throw invocation(api, 'properties.bufferSize must be an integer.');
  return { ...o };
}

function checkId(api: string, id: unknown): number {
  if (!Number.isInteger(id)) throw invocation(api, 'socketId must be an integer.');
  return id as number;
}

/** The sockets of one extension; close() closes them all. */
export class UdpSockets {
  private readonly sockets = new Map<number, Entry>();
  private nextId = 1;
  readonly received = new ChromeEvent<[ReceiveInfo]>('sockets.udp.onReceive');
  readonly receiveError = new ChromeEvent<[ReceiveErrorInfo]>('sockets.udp.onReceiveError');

  create(properties: SocketProperties): { socketId: number } {
    const id = this.nextId++;
    this.sockets.set(id, { id, properties, paused: false, socket: null, binding: false });
    return { socketId: id };
  }

  private entry(id: number): Entry {
    const e = this.sockets.get(id);
    if (!e) throw notFound();
    return e;
  }

  update(id: number, properties: SocketProperties): void {
    const e = this.entry(id);
    e.properties = { ...e.properties, ...properties };
  }

  setPaused(id: number, paused: boolean): void {
    const e = this.entry(id);
    e.paused = paused;
    if (paused) e.socket?.pause();
    else e.socket?.resume();
  }

  async bind(id: number, address: string, port: number): Promise<number> {
    const e = this.entry(id);
    const result = (code: number) => [code];
    if (e.socket || e.binding) throw failed('ERR_CONNECTION_FAILED', result);
    const family = net.isIP(address);
    if (family === 0 || !Number.isInteger(port) || port < 0 || port > 65535)
      throw failed('ERR_ADDRESS_INVALID', result);
    e.binding = true;
    let socket: UdpSocket;
    try {
      socket = await UdpSocket.open({
        type: family === 4 ? 'udp4' : 'udp6',
        address,
        port,
        ref: true, // a bound socket waits for datagrams, as Node's dgram does
        ...(e.properties.bufferSize ? { recvBufferSize: e.properties.bufferSize } : {}),
      });
    } catch (err) {
      throw failed(netError(err), result);
    } finally {
      e.binding = false;
    }
    if (this.sockets.get(id) !== e) {
      socket.close(); // closed while binding
      throw notFound();
    }
    e.socket = socket;
    socket.onMessage.addListener((data, sender) =>
      this.received.dispatch({
        socketId: id,
        data,
        remoteAddress: sender.address,
        remotePort: sender.port,
      }),
    );
    socket.onError.addListener((err) => {
      // Chrome: the socket is paused and says why, once.
      e.paused = true;
      socket.pause();
      this.receiveError.dispatch({ socketId: id, resultCode: NET_ERRORS[netError(err)] });
    });
    if (e.paused) socket.pause();
    return NET_ERRORS.OK;
  }

  async send(
    id: number,
    data: ArrayBuffer,
    address: string,
    port: number,
  ): Promise<{ resultCode: number; bytesSent: number }> {
    const e = this.entry(id);
    const result = (code: number) => [{ resultCode: code }];
    const socket = e.socket;
    if (!socket || socket.closed) throw failed('ERR_SOCKET_NOT_CONNECTED', result);
    let host = address;
    if (net.isIP(address) === 0) {
      try {
        host = (await dns.promises.lookup(address, { family: socket.family === 4 ? 4 : 0 }))
          .address;
      } catch (err) {
        throw failed(netError(err), result);
      }
    }
    try {
      await socket.send(new Uint8Array(data), socket.peer(host, port));
    } catch (err) {
      throw failed(netError(err), result);
    }
    return { resultCode: NET_ERRORS.OK, bytesSent: data.byteLength };
  }

  close(id: number): void {
    const e = this.entry(id);
    this.sockets.delete(id);
    e.socket?.close();
  }

  info(id: number): SocketInfo {
    const e = this.entry(id);
    const p = e.properties;
    return {
      socketId: id,
      persistent: p.persistent ?? false,
      ...(p.name ? { name: p.name } : {}),
      ...(p.bufferSize ? { bufferSize: p.bufferSize } : {}),
      paused: e.paused,
      ...(e.socket && !e.socket.closed
        ? { localAddress: e.socket.local.address, localPort: e.socket.local.port }
        : {}),
    };
  }

  all(): SocketInfo[] {
    return [...this.sockets.keys()].map((id) => this.info(id));
  }

  closeAll(): void {
    for (const id of [...this.sockets.keys()]) this.close(id);
  }
}

export function createSocketsUdp(sockets: UdpSockets, caller: Caller): SocketsUdp {
  const api = {
    create(properties?: unknown, callback?: unknown) {
      if (typeof properties === 'function' && callback === undefined)
        [properties, callback] = [undefined, properties];
      const p = checkProperties('create', properties);
      return caller.call(
        'sockets.udp.create',
        () => sockets.create(p),
        callback,
        (i) => [i],
      );
    },
    update(socketId: unknown, properties: unknown, callback?: unknown) {
      const id = checkId('update', socketId);
      const p = checkProperties('update', properties);
      return caller.call('sockets.udp.update', () => sockets.update(id, p), callback);
    },
    setPaused(socketId: unknown, paused: unknown, callback?: unknown) {
      const id = checkId('setPaused', socketId);
      if (typeof paused !== 'boolean') throw invocation('setPaused', 'paused must be a boolean.');
      return caller.call('sockets.udp.setPaused', () => sockets.setPaused(id, paused), callback);
    },
    bind(socketId: unknown, address: unknown, port: unknown, callback?: unknown) {
      const id = checkId('bind', socketId);
      if (typeof address !== 'string') throw invocation('bind', 'address must be a string.');
      if (!Number.isInteger(port)) throw invocation('bind', 'port must be an integer.');
      return caller.call(
        'sockets.udp.bind',
        () => sockets.bind(id, address, port as number),
        callback,
        (r) => [r],
      );
    },
    send(socketId: unknown, data: unknown, address: unknown, port: unknown, callback?: unknown) {
      const id = checkId('send', socketId);
      // Any realm's ArrayBuffer (a vm context's too).
      if (!types.isArrayBuffer(data)) throw invocation('send', 'data must be an ArrayBuffer.');
      if (typeof address !== 'string') throw invocation('send', 'address must be a string.');
      if (!Number.isInteger(port)) throw invocation('send', 'port must be an integer.');
      return caller.call(
        'sockets.udp.send',
        () => sockets.send(id, data, address, port as number),
        callback,
        (info) => [info],
      );
    },
    close(socketId: unknown, callback?: unknown) {
      const id = checkId('close', socketId);
      return caller.call('sockets.udp.close', () => sockets.close(id), callback);
    },
    getInfo(socketId: unknown, callback?: unknown) {
      const id = checkId('getInfo', socketId);
      return caller.call(
        'sockets.udp.getInfo',
        () => sockets.info(id),
        callback,
        (i) => [i],
      );
    },
    getSockets(callback?: unknown) {
      return caller.call(
        'sockets.udp.getSockets',
        () => sockets.all(),
        callback,
        (a) => [a],
      );
    },
    onReceive: facade('chrome.sockets.udp.onReceive', sockets.received),
    onReceiveError: facade('chrome.sockets.udp.onReceiveError', sockets.receiveError),
  };
  return guard('chrome.sockets.udp', api) as unknown as SocketsUdp;
}
