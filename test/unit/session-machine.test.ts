// The platform's session state machine without a TUN device or
// privileges: the Kernel seam (lib/platform/kernel.ts) given a socketpair
// (test/helpers/socketpair-kernel.ts), whose other end plays the kernel's
// side of the tunnel.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Platform, TunDevice, type PacketBatch, type PlatformMessage } from '../../lib';
import { fakeIp } from '../helpers/packets';
import { socketpairKernel, type SocketpairKernel } from '../helpers/socketpair-kernel';

const PARAMS = {
  address: '198.18.0.2/24',
  inclusionList: ['198.18.0.0/16'],
  exclusionList: ['198.18.200.0/24'],
  dnsServers: [],
};

let dir: string;
let kernel: SocketpairKernel;
let platform: Platform;
let messages: string[];
let side: TunDevice | null;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpn-machine-'));
  kernel = socketpairKernel();
  platform = new Platform(
    { stateDir: dir, dns: false, log: () => {}, connectTimeoutMs: 300, handleSignals: false },
    kernel,
  );
  messages = [];
  side = null;
  const vpn = platform.provider('p');
  vpn.onPlatformMessage.addListener((id, m: PlatformMessage, err) =>
    messages.push(err ? `${id}:${m}:${err}` : `${id}:${m}`),
  );
  await vpn.createConfig('c');
});
afterEach(async () => {
  await platform.close();
  side?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out; messages: ${messages.join(', ')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Connects and takes the kernel's side of the socketpair. */
async function connect(): Promise<TunDevice> {
  await platform.connect('p', 'c');
  side = TunDevice.fromFd(kernel.peer);
  return side;
}

test('connect, setParameters, notify: the states and what reached the kernel, in order', async () => {
  await connect();
  expect(messages).toEqual(['c:connected']);
  expect(platform.status()).toMatchObject({ state: 'connecting', interfaceName: 'sp0' });
  const vpn = platform.provider('p');
  await vpn.setParameters(PARAMS);
  expect(platform.status()).toMatchObject({ state: 'configured', address: '198.18.0.2/24' });
  expect(platform.routes!.lookup('198.18.7.7')).toBe(1);
  expect(platform.routes!.lookup('198.18.200.7')).toBe(0);
  await vpn.notifyConnectionStateChanged('connected');
  expect(platform.status().state).toBe('connected');
  await platform.disconnect();
  expect(messages).toEqual(['c:connected', 'c:disconnected']);
  expect(kernel.calls).toEqual([
    'open',
    'persist true',
    'configure 198.18.0.2/24 mtu 1500',
    'routes table 30100: 1 in, 1 around',
    'remove table 30100',
    'persist false',
  ]);
  expect(platform.session).toBeNull();
});

test('packets both ways through the session: in as Chrome gives them, out with sendPacket', async () => {
  const kernelSide = await connect();
  const vpn = platform.provider('p');
  await vpn.setParameters(PARAMS);
  const inbound: Uint8Array[] = [];
  vpn.onPacketReceived.addListener((data) => inbound.push(new Uint8Array(data)));
  const sent = [fakeIp(60, 1), fakeIp(1400, 2)];
  await kernelSide.sendPackets(sent);
  await until(() => inbound.length === 2);
  expect(inbound.map((p) => Buffer.compare(p, sent[inbound.indexOf(p)]))).toEqual([0, 0]);
  const outbound: Uint8Array[] = [];
  kernelSide.onPacketsReceived.addListener((b: PacketBatch) => {
    for (let i = 0; i < b.count; i++) outbound.push(b.packet(i).slice());
  });
  const reply = fakeIp(100, 3);
  await vpn.sendPacket(reply.buffer.slice(0) as ArrayBuffer);
  await until(() => outbound.length === 1);
  expect(Buffer.compare(outbound[0], reply)).toBe(0);
  expect(platform.status().counters).toMatchObject({ inPackets: 2, outPackets: 1 });
});

test('no setParameters in time: error with the reason, then disconnected, and the session is gone', async () => {
  await connect();
  await until(() => messages.length === 3);
  expect(messages[1]).toMatch(
    /^c:error:Connect timeout: setParameters did not succeed within 300 ms\.$/,
  );
  expect(messages[2]).toBe('c:disconnected');
  expect(platform.session).toBeNull();
  expect(kernel.calls).toContain('remove table 30100');
});

test('failure from the provider ends the session; a refused setParameters leaves it as it was', async () => {
  await connect();
  const vpn = platform.provider('p');
  await expect(vpn.setParameters({ ...PARAMS, mtu: '10' })).rejects.toMatchObject({
    code: 'ERR_INVALID_PARAMETERS',
  });
  expect(kernel.calls).toEqual(['open', 'persist true']); // nothing reached the kernel
  expect(platform.status().state).toBe('connecting');
  await vpn.notifyConnectionStateChanged('failure');
  expect(messages).toEqual(['c:connected', 'c:disconnected']);
  expect(platform.session).toBeNull();
});

test("the kernel's side going away (the device failing) ends the session with an error", async () => {
  const kernelSide = await connect();
  const vpn = platform.provider('p');
  await vpn.setParameters(PARAMS);
  vpn.onPacketsReceived.addListener(() => {}); // the device reads
  kernelSide.close();
  side = null;
  await until(() => messages.includes('c:disconnected'));
  expect(messages[1]).toMatch(/^c:error:The tunnel device failed/);
  expect(platform.session).toBeNull();
});
