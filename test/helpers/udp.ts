// UDP sockets for tests inside the namespace.
import * as dgram from 'node:dgram';

export async function udpSocket(
  type: 'udp4' | 'udp6',
  address: string,
  port = 0,
): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type, recvBufferSize: 4 << 20 });
  s.on('error', () => {}); // sends to vanished routes are expected in some tests
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, address, () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

export function send(s: dgram.Socket, data: Uint8Array, port: number, address: string) {
  return new Promise<void>((resolve, reject) =>
    s.send(data, port, address, (err) => (err ? reject(err) : resolve())),
  );
}

/** Resolves with the next n datagrams' payloads. */
export function receive(s: dgram.Socket, n: number, timeoutMs = 5000): Promise<Buffer[]> {
  const got: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      s.off('message', on);
      reject(new Error(`received ${got.length} of ${n} datagrams`));
    }, timeoutMs);
    const on = (msg: Buffer) => {
      got.push(msg);
      if (got.length === n) {
        clearTimeout(t);
        s.off('message', on);
        resolve(got);
      }
    };
    s.on('message', on);
  });
}
