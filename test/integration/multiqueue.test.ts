// Multi-queue TUN devices (IFF_MULTI_QUEUE): one queue per worker thread,
// each with its own reader and batches; the kernel spreads flows over them.
import * as dgram from 'node:dgram';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { TunDevice } from '../../lib';
import { describeNetns } from '../helpers/netns';

interface Counts {
  packets: number;
  bytes: number;
}

function startWorker(
  data: Record<string, unknown>,
): Promise<{ worker: Worker; counts: () => Counts }> {
  const worker = new Worker(path.join(__dirname, '../fixtures/worker.js'), { workerData: data });
  let counts: Counts = { packets: 0, bytes: 0 };
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (m) => {
      if (m.error) reject(new Error(m.error));
      else if (m.ready) resolve({ worker, counts: () => counts });
      else counts = m;
    });
  });
}

describeNetns('multi-queue TUN devices with worker threads', () => {
  test('two worker queues share the flows; together they see every packet, and each can send', async () => {
    const dev = await TunDevice.open({
      name: 'mqt0',
      multiQueue: true,
      addresses: ['198.18.20.1/24'],
    });
    const workers: Awaited<ReturnType<typeof startWorker>>[] = [];
    const sock = dgram.createSocket('udp4');
    try {
      // The main thread's own queue is closed: only the workers' remain.
      for (let i = 0; i < 2; i++)
        workers.push(await startWorker({ attach: 'mqt0', ref: true, echo: true }));
      dev.close();
      await new Promise<void>((r) => sock.bind(0, '198.18.20.1', r));
      const echoes = new Set<string>();
      sock.on('message', (m) => echoes.add(m.toString()));
      const flows = 64;
      for (let i = 0; i < flows; i++) {
        // One datagram per flow (destination port), each to the far end.
        await new Promise<void>((r) => sock.send(`flow ${i}`, 9000 + i, '198.18.20.2', () => r()));
      }
      const deadline = Date.now() + 5000;
      while (echoes.size < flows && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      const [a, b] = workers.map((w) => w.counts().packets);
      expect(a + b).toBe(flows);
      // 64 flows over 2 queues: both get some (all on one: p = 2^-63).
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
      // Each worker wrote its packets back through its own queue.
      expect(echoes.size).toBe(flows);
    } finally {
      sock.close();
      dev.close();
      await Promise.all(workers.map((w) => w.worker.terminate()));
    }
  });

  test('attaching to a device that is not multi-queue fails with a clear error', async () => {
    const dev = await TunDevice.open({ name: 'sqt0', addresses: ['198.18.21.1/24'] });
    try {
      await expect(TunDevice.attachQueue('sqt0')).rejects.toMatchObject({
        syscall: 'ioctl(TUNSETIFF)',
        message: expect.stringContaining('exists without IFF_MULTI_QUEUE'),
      });
    } finally {
      dev.close();
    }
  });
});
