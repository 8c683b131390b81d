'use strict';
// One trial of bench/offload, run by run.js in a fresh process inside a
// network namespace of its own (`unshare --net`). Prints one JSON line.
//
//   trial.js udp-drain IMPL MB     MB of UDP payload in 1400-byte segments is
//                                  queued towards a TUN device (paused
//                                  reader), then drained: bytes/s of the drain
//   trial.js tcp-bridge IMPL MB    a TCP transfer of MB MiB between two
//                                  namespaces whose only link is two TUN
//                                  devices bridged by IMPL: Gbit/s, CPU
//   trial.js mq-drain QUEUES N     N small UDP packets over 256 flows queued
//                                  towards a multi-queue device, drained by
//                                  QUEUES worker threads, one queue each
// IMPL: c-plain, c-gso (bench/bin/gsobench: plain read/write loops, without
// and with IFF_VNET_HDR offloads), js-plain (offload: false), js-split
// (offloads, wire-size batches: native split and coalescing), js-super
// (offloads, super-packets handed out and forwarded whole).
const { spawn, execFileSync } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { Worker } = require('node:worker_threads');

const root = path.join(__dirname, '..', '..');
const { drain } = require('./drain');
const { pkg } = require('../common');
const { TunDevice } = require(path.join(pkg, 'dist'));
const GSOBENCH = path.join(root, 'bench', 'bin', 'gsobench');
const QLEN = 60000;
const FLOWS = 256; // mq-drain: many flows, so that the kernel's spread is even
const [kind, impl, arg] = process.argv.slice(2);

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'inherit'] });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Spawns a process; lines() yields its stdout's JSON lines. */
function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const queue = [];
  let wake = null;
  let closed = false;
  readline
    .createInterface({ input: child.stdout })
    .on('line', (l) => {
      queue.push(JSON.parse(l));
      wake?.();
    })
    .on('close', () => {
      closed = true;
      wake?.();
    });
  const next = async () => {
    while (queue.length === 0) {
      if (closed) throw new Error(`${args[0]} ended its output (exit ${child.exitCode})`);
      await new Promise((r) => (wake = r));
    }
    return queue.shift();
  };
  return { child, next };
}

async function flood(bytes, flows) {
  const f = start(GSOBENCH, ['flood', String(bytes), '1400', String(flows)]);
  await f.next();
}

async function udpDrain(mb) {
  const bytes = mb << 20;
  if (impl.startsWith('c-')) {
    const r = start(GSOBENCH, ['read', String(QLEN), impl === 'c-gso' ? '1' : '0']);
    await r.next();
    await flood(bytes, 4);
    r.child.stdin.write('go\n');
    return { ...(await r.next()), payload: bytes };
  }
  const dev = await TunDevice.open({
    addresses: ['198.18.0.1/24'],
    txQueueLen: QLEN,
    offload: impl !== 'js-plain',
    superPackets: impl === 'js-super',
  });
  await flood(bytes, 4);
  const out = await drain(dev, impl);
  const c = dev.counters();
  dev.close();
  return { ...out, reads: c.rxPackets, segments: c.rxSegments, payload: bytes };
}

async function tcpBridge(mb) {
  const offload = impl !== 'js-plain' && impl !== 'c-plain';
  const sink = start('unshare', ['--net', GSOBENCH, 'tcpsink', '5201']);
  await sink.next();
  const inSink = (...args) =>
    execFileSync('nsenter', ['-t', String(sink.child.pid), '-n', 'ip', ...args]);
  let a, b, cb;
  const timing = { sendNs: 0n, sendBytes: 0, listenerNs: 0n };
  if (impl.startsWith('c-')) {
    cb = start(GSOBENCH, ['bridge', 'ofa', 'ofb', offload ? '1' : '0']);
    await cb.next();
    ip('addr', 'add', '198.18.1.1/24', 'dev', 'ofa');
    ip('link', 'set', 'ofa', 'up');
  } else {
    const opts = { offload, superPackets: impl === 'js-super' };
    a = await TunDevice.open({ name: 'ofa', addresses: ['198.18.1.1/24'], ...opts });
    b = await TunDevice.open({ name: 'ofb', up: false, ...opts });
    const withHeader = impl === 'js-super';
    const bridge = (from, to, timed) =>
      from.onPacketsReceived.addListener((batch) => {
        const t0 = process.hrtime.bigint();
        const out = new Array(batch.count);
        let bytes = 0;
        for (let i = 0; i < batch.count; i++) {
          out[i] = withHeader ? batch.withHeader(i) : batch.packet(i);
          bytes += batch.length(i);
        }
        const t1 = process.hrtime.bigint();
        to.trySendPackets(out, 0, { withHeader });
        const t2 = process.hrtime.bigint();
        if (timed) {
          timing.sendNs += t2 - t1;
          timing.sendBytes += bytes;
          timing.listenerNs += t2 - t0;
        }
      });
    bridge(a, b, true);
    bridge(b, a, false);
  }
  ip('link', 'set', 'ofb', 'netns', String(sink.child.pid));
  inSink('link', 'set', 'lo', 'up');
  inSink('addr', 'add', '198.18.2.2/24', 'dev', 'ofb');
  inSink('link', 'set', 'ofb', 'up');
  inSink('route', 'add', '198.18.1.0/24', 'dev', 'ofb');
  ip('route', 'add', '198.18.2.0/24', 'dev', 'ofa');
  if (cb) cb.child.stdin.write('go\n');
  const cpu0 = process.cpuUsage();
  const sender = start(GSOBENCH, ['tcpsend', '198.18.2.2', '5201', String(mb)]);
  const sent = await sender.next();
  const got = await sink.next();
  const cpuUse = process.cpuUsage(cpu0);
  let bridgeCpu = (cpuUse.user + cpuUse.system) / 1e6;
  const out = {
    mode: impl,
    bytes: got.bytes,
    seconds: sent.seconds,
    gbps: (got.bytes * 8) / sent.seconds / 1e9,
  };
  if (cb) {
    cb.child.stdin.end('stop\n');
    const r = await cb.next();
    bridgeCpu = r.cpu;
    out.reads = r.reads;
  } else {
    const ca = a.counters();
    const cbn = b.counters();
    out.reads = ca.rxPackets + cbn.rxPackets;
    out.superIn = ca.rxSuperPackets;
    out.coalesced = cbn.txSuperPackets;
    out.sendBytesPerSec = timing.sendBytes / (Number(timing.sendNs) / 1e9);
    out.listenerShare = Number(timing.listenerNs) / 1e9 / sent.seconds;
    a.close();
    b.close();
  }
  out.bridgeCpu = bridgeCpu / sent.seconds;
  return out;
}

async function mqDrain(queues, n) {
  const name = 'mq0';
  // Each queue holds its share of the flows with room for an uneven spread
  // (the kernel's ring takes at most 512k entries: n up to ~390k).
  const txQueueLen = Math.ceil((1.3 * n) / queues) + 1000;
  const workers = [];
  for (let q = 0; q < queues; q++) {
    // The first worker makes the device, the others attach queues to it.
    const w = new Worker(path.join(__dirname, 'mq-worker.js'), {
      workerData: { name, first: q === 0, txQueueLen },
    });
    await new Promise((r, j) => (w.once('message', r), w.once('error', j)));
    workers.push(w);
  }
  // n 64-byte packets over FLOWS flows, spread by the kernel over the queues.
  execFileSync(GSOBENCH, ['flood', String(n * 64), '64', String(FLOWS)]);
  await sleep(50);
  const results = await Promise.all(
    workers.map(
      (w) =>
        new Promise((r, j) => {
          w.once('message', r);
          w.once('error', j);
          w.postMessage('go');
        }),
    ),
  );
  await Promise.all(workers.map((w) => w.terminate()));
  const packets = results.reduce((s, r) => s + r.packets, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  return { mode: `mq${queues}`, packets, seconds, pps: packets / seconds, perQueue: results };
}

(async () => {
  let r;
  if (kind === 'udp-drain') r = await udpDrain(Number(arg));
  else if (kind === 'tcp-bridge') r = await tcpBridge(Number(arg));
  else if (kind === 'mq-drain') r = await mqDrain(Number(impl), Number(arg));
  else throw new Error(`unknown trial ${kind}`);
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
