'use strict';
// One trial of the packet-path benchmark, in a fresh process, inside the
// private network namespace that bench/packet/run.js starts it in.
//
//   node bench/packet/trial.js recv <impl> <payload bytes> <packets>
//   node bench/packet/trial.js send <impl> <payload bytes> <packets>
//   node bench/packet/trial.js idle vpn-batch 0 <milliseconds>
//
// recv: the device's queue is filled first (txqueuelen raised, nobody
// reading), then the implementation drains it and is timed: this measures the
// reader alone, without a load generator competing for the second core.
// send: UDP packets are written into the device and delivered by the kernel
// to a socket that never reads (its tiny buffer drops them).
// Prints one JSON line.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const root = path.join(__dirname, '..', '..');
const { benchPlatform, pkg } = require('../common');
const { TunDevice } = require(path.join(pkg, 'dist'));
const { native } = require(path.join(pkg, 'dist', 'native'));
const tunbench = path.join(root, 'bench', 'bin', 'tunbench');
const peerDir = path.join(root, 'bench', '.cache', 'peers', 'node_modules', 'appium-ios-tuntap');

const [dir, implArg, sizeArg, countArg] = process.argv.slice(2);
// vpn-batch:N: vpn-batch with N packets per JS call (recv) or per sendPackets (send).
const [impl, batchArg] = implArg.split(':');
const BATCH = Number(batchArg) || 0;
const size = Number(sizeArg);
const count = Number(countArg);
const ADDRESS = '198.18.0.1/24';

function child(args) {
  const c = spawn(tunbench, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: c.stdout });
  const queue = [];
  const waiters = [];
  let exited = null;
  lines.on('line', (l) =>
    waiters.length ? waiters.shift().resolve(JSON.parse(l)) : queue.push(JSON.parse(l)),
  );
  c.on('exit', (code) => {
    exited = new Error(`tunbench ${args.join(' ')} exited with ${code}`);
    // Lines still buffered in readline are delivered before 'close'.
    lines.once('close', () => waiters.splice(0).forEach((w) => w.reject(exited)));
  });
  return {
    proc: c,
    next: () => {
      if (queue.length) return Promise.resolve(queue.shift());
      if (exited && lines.closed) return Promise.reject(exited);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    send: (s) => c.stdin.write(s + '\n'),
  };
}

async function run(args) {
  const c = child(args);
  const r = await c.next();
  await new Promise((res) => c.proc.once('exit', res));
  return r;
}

function cpuSeconds(since) {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

async function openPeer() {
  const { TunTap } = require(peerDir);
  const t = new TunTap();
  if (!t.open()) throw new Error('appium-ios-tuntap: open failed');
  const ifindex = native.linkIndex(t.name);
  await native.addAddress({ ifindex, address: '198.18.0.1', prefixLength: 24 });
  await native.setLink({ ifindex, up: true, txQueueLen: count + 1000 });
  return { t, name: t.name, ifindex };
}

/**
 * A platform session with the tunnel at 198.18.0.1/24: the packets go
 * through the public surface (a provider's events and sendPackets).
 */
async function openSurface(qlen) {
  const bench = await benchPlatform();
  const { platform, vpn } = bench;
  await platform.connect('bench', 'c');
  await vpn.setParameters({
    address: ADDRESS,
    exclusionList: [],
    inclusionList: [],
    dnsServers: [],
  });
  const ifindex = native.linkIndex(platform.session.interfaceName);
  if (qlen) await native.setLink({ ifindex, txQueueLen: qlen });
  return { vpn, ifindex, close: bench.close };
}

async function recv() {
  let dev = null;
  let peer = null;
  let surface = null;
  let cProc = null;
  let ifindex;
  if (impl === 'c-read') {
    cProc = child(['read', String(count + 1000)]);
    const ready = await cProc.next();
    ifindex = native.linkIndex(ready.ready);
  } else if (impl === 'appium') {
    peer = await openPeer();
    ifindex = peer.ifindex;
  } else if (impl === 'vpn-surface') {
    surface = await openSurface(count + 1000);
    ifindex = surface.ifindex;
  } else {
    dev = await TunDevice.open({
      addresses: [ADDRESS],
      txQueueLen: count + 1000,
      batchSize: BATCH || Number(process.env.BENCH_BATCH) || undefined,
      slabSize: Number(process.env.BENCH_SLAB) || undefined,
      offload: process.env.BENCH_OFFLOAD !== '0',
    });
    ifindex = dev.ifindex;
  }
  await run(['flood', String(count), String(size)]);
  const drops = (await native.linkInfo(ifindex)).stats.txDropped;
  const expected = count - drops;

  if (cProc) {
    cProc.send('go');
    const r = await cProc.next();
    return { packets: r.packets, bytes: r.bytes, seconds: r.seconds, cpu: r.cpu, drops };
  }

  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let n = 0;
  let bytes = 0;
  let sum = 0;
  const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;

  if (impl === 'node-readsync' || impl === 'appium') {
    const buf = Buffer.allocUnsafe(65536);
    const fd = dev ? dev.fd : -1;
    while (n < expected) {
      let r;
      if (peer) {
        r = peer.t.read(65535).length;
      } else {
        try {
          r = fs.readSync(fd, buf, 0, 65536, null);
        } catch (err) {
          if (err.code !== 'EAGAIN') throw err;
          r = 0;
        }
      }
      if (r > 0) {
        n++;
        bytes += r;
      } else if (elapsed() > 20) {
        break;
      }
    }
    const seconds = elapsed();
    const cpu = cpuSeconds(cpu0);
    if (peer) peer.t.close();
    if (dev) dev.close();
    return { packets: n, bytes, seconds, cpu, drops };
  }

  return new Promise((resolve) => {
    const done = async () => {
      const seconds = elapsed();
      const cpu = cpuSeconds(cpu0);
      if (dev) dev.close();
      if (surface) await surface.close(); // removes its state directory
      resolve({ packets: n, bytes, seconds, cpu, drops, sum });
    };
    const guard = setTimeout(done, 20000);
    // BENCH_WORK=touch: the listener reads every byte (a stand-in for the
    // per-byte work a VPN does, such as encryption).
    const touch = process.env.BENCH_WORK === 'touch';
    if (impl === 'vpn-batch' || impl === 'vpn-surface') {
      const events = surface ? surface.vpn.onPacketsReceived : dev.onPacketsReceived;
      events.addListener((batch) => {
        const meta = batch.meta;
        const data = batch.data;
        for (let i = 0; i < batch.count; i++) {
          const len = meta[2 * i + 1];
          bytes += len;
          if (touch) {
            for (let j = meta[2 * i], end = j + len; j < end; j++) sum += data[j];
          }
        }
        n += batch.count;
        if (n >= expected) {
          clearTimeout(guard);
          done();
        }
      });
    } else if (impl === 'vpn-packet') {
      dev.onPacketReceived.addListener((ab) => {
        bytes += ab.byteLength;
        if (++n >= expected) {
          clearTimeout(guard);
          done();
        }
      });
    } else {
      throw new Error(`unknown recv impl ${impl}`);
    }
  });
}

async function send() {
  // The device (with 198.18.0.1) comes first, then the sink bound to it.
  let sink = null;
  const startSink = async () => {
    sink = child(['sink']);
    await sink.next();
  };
  try {
    if (impl === 'c-write') {
      const c = child(['write', String(count), String(size)]);
      await c.next();
      await startSink();
      c.send('go');
      const r = await c.next();
      return { packets: r.packets, bytes: r.bytes, seconds: r.seconds, cpu: r.cpu };
    }
    const pkt = new Uint8Array(execFileSync(tunbench, ['packet', String(size)]));
    let write;
    let finish = async () => {};
    let close;
    if (impl === 'appium') {
      const peer = await openPeer();
      const b = Buffer.from(pkt);
      write = (n) => {
        for (let i = 0; i < n; i++)
          if (peer.t.write(b) !== b.length) throw new Error('short write');
      };
      close = () => peer.t.close();
    } else if (impl === 'vpn-surface') {
      const s = await openSurface(0);
      const batch = new Array(64).fill(pkt);
      let last = Promise.resolve();
      write = (n) => {
        for (let i = 0; i < n; i += 64) last = s.vpn.sendPackets(batch);
      };
      finish = () => last;
      close = () => s.close();
    } else {
      const dev = await TunDevice.open({
        addresses: [ADDRESS],
        offload: process.env.BENCH_OFFLOAD !== '0',
      });
      close = () => dev.close();
      if (impl === 'vpn-batch') {
        const per = BATCH || 64;
        const batch = new Array(per).fill(pkt);
        write = (n) => {
          for (let i = 0; i < n; i += per) {
            if (dev.trySendPackets(batch) !== per) throw new Error('short batch');
          }
        };
      } else if (impl === 'vpn-single') {
        let last = Promise.resolve();
        write = (n) => {
          for (let i = 0; i < n; i++) last = dev.sendPacket(pkt);
        };
        finish = () => last;
      } else if (impl === 'node-writesync') {
        write = (n) => {
          for (let i = 0; i < n; i++) fs.writeSync(dev.fd, pkt);
        };
      } else {
        throw new Error(`unknown send impl ${impl}`);
      }
    }
    await startSink();
    write(Math.min(count, 10000)); // warm-up
    await finish();
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    write(count);
    await finish();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = cpuSeconds(cpu0);
    await close();
    return { packets: count, bytes: count * pkt.length, seconds, cpu };
  } finally {
    if (sink) sink.proc.kill();
  }
}

async function idle() {
  const dev = await TunDevice.open({ addresses: [ADDRESS] });
  dev.ref();
  dev.onPacketsReceived.addListener(() => {});
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, count));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(cpu0);
  dev.close();
  return { packets: 0, bytes: 0, seconds, cpu };
}

(async () => {
  await native.setLink({ ifindex: native.linkIndex('lo'), up: true });
  const fn = { recv, send, idle }[dir];
  if (!fn) throw new Error(`unknown direction ${dir}`);
  const r = await fn();
  process.stdout.write(JSON.stringify({ dir, impl: implArg, size, ...r }) + '\n');
  process.exit(0);
})().catch((err) => {
  process.stderr.write(`trial ${dir} ${impl} ${size}: ${err && err.stack}\n`);
  process.exit(1);
});
