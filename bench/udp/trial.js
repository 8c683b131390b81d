'use strict';
// One trial of bench/udp, in a fresh process in a network namespace of its
// own (run.js starts it under unshare --net). Prints one JSON line.
//   node trial.js recv IMPL SECONDS   a C flooder sends 1400-byte datagrams
//                                     (UDP_SEGMENT) over loopback for
//                                     SECONDS; IMPL receives: c-gro, c-plain
//                                     (recvmmsg loops), js-gro, js-plain
//                                     (UdpSocket), dgram (Node's)
//   node trial.js send IMPL COUNT     IMPL sends COUNT 1400-byte datagrams
//                                     to a C sink: c-gso, c-plain
//                                     (sendmmsg loops), js-gso, js-plain
//                                     (UdpSocket.sendDatagrams), js-from
//                                     (UdpSocket.sendFrom one batch), dgram
// Reports datagrams, seconds and the CPU seconds of the measured side.
const { spawn, execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const path = require('node:path');
const readline = require('node:readline');

const root = path.join(__dirname, '..', '..');
const { pkg } = require('../common');
const bin = path.join(root, 'bench', 'bin', 'udpbench');
const SIZE = 1400;
const PORT = 9999;
const [mode, impl, arg] = process.argv.slice(2);

execFileSync('ip', ['link', 'set', 'lo', 'up']);

function helper(...args) {
  const c = spawn(bin, args.map(String), { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: c.stdout });
  const queue = [];
  let wake = null;
  lines.on('line', (l) => {
    queue.push(JSON.parse(l));
    wake?.();
  });
  const next = () =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (queue.length) return resolve(queue.shift());
        if (c.exitCode !== null) return reject(new Error(`udpbench ${args[0]} exited`));
        wake = check;
      };
      c.once('exit', () => wake?.());
      check();
    });
  return { c, next, go: () => c.stdin.write('go\n'), stop: () => c.stdin.end() };
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function recv() {
  const seconds = Number(arg);
  const flood = helper('flood', '127.0.0.1', PORT, SIZE);
  await flood.next();
  let report;
  if (impl.startsWith('c-')) {
    const r = helper('recv', PORT, SIZE, impl === 'c-gro' ? 1 : 0);
    await r.next();
    r.go();
    flood.go();
    await sleep(seconds * 1000);
    flood.stop();
    r.stop();
    report = await r.next();
  } else {
    let count = 0;
    let stop;
    if (impl === 'dgram') {
      const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 64 << 20 });
      s.on('message', () => count++);
      await new Promise((r) => s.bind(PORT, '127.0.0.1', r));
      stop = () => s.close();
    } else {
      const { UdpSocket } = require(path.join(pkg, 'dist'));
      const s = await UdpSocket.open({
        type: 'udp4',
        address: '127.0.0.1',
        port: PORT,
        offload: impl === 'js-gro',
        recvBufferSize: 64 << 20,
      });
      s.onDatagrams.addListener((b) => (count += b.count));
      stop = () => s.close();
    }
    const t0 = process.hrtime.bigint();
    const c0 = cpuNow();
    flood.go();
    await sleep(seconds * 1000);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const used = cpuNow() - c0;
    const got = count;
    flood.stop();
    stop();
    report = { datagrams: got, seconds: secs, cpu: used };
  }
  return report;
}

async function send() {
  const count = Number(arg);
  const sink = helper('sink', PORT);
  await sink.next();
  let report;
  if (impl.startsWith('c-')) {
    const s = helper('send', '127.0.0.1', PORT, count, SIZE, impl === 'c-gso' ? 1 : 0);
    await s.next();
    s.go();
    report = await s.next();
  } else {
    const buf = new Uint8Array(256 * SIZE).fill(0x5a);
    const views = Array.from({ length: 256 }, (_, i) => buf.subarray(i * SIZE, (i + 1) * SIZE));
    const t0 = process.hrtime.bigint();
    const c0 = cpuNow();
    if (impl === 'dgram') {
      const s = dgram.createSocket({ type: 'udp4', sendBufferSize: 64 << 20 });
      await new Promise((r) => s.bind(0, '127.0.0.1', r));
      s.connect(PORT, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      for (let sent = 0; sent < count;) {
        // 256 at a time, then wait for the last one's callback.
        await new Promise((resolve) => {
          for (let i = 0; i < 256; i++) s.send(views[i], i === 255 ? resolve : undefined);
        });
        sent += 256;
      }
      s.close();
    } else {
      const { UdpSocket } = require(path.join(pkg, 'dist'));
      const s = await UdpSocket.open({
        type: 'udp4',
        offload: impl !== 'js-plain',
        sendBufferSize: 64 << 20,
      });
      const to = s.peer('127.0.0.1', PORT);
      if (impl === 'js-from') {
        const meta = new Int32Array(2 * 256);
        for (let i = 0; i < 256; i++) {
          meta[2 * i] = i * SIZE;
          meta[2 * i + 1] = SIZE;
        }
        const batch = { data: buf, meta, count: 256, stride: 2 };
        for (let sent = 0; sent < count; sent += 256) await s.sendFrom(batch, { to });
      } else {
        for (let sent = 0; sent < count; sent += 256) await s.sendDatagrams(views, to);
      }
      s.close();
    }
    report = {
      datagrams: count,
      seconds: Number(process.hrtime.bigint() - t0) / 1e9,
      cpu: cpuNow() - c0,
    };
  }
  sink.stop();
  return report;
}

(mode === 'recv' ? recv() : send())
  .then((r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  })
  .catch((err) => {
    console.error(err.stack);
    process.exit(1);
  });
