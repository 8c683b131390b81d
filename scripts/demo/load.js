'use strict';
// The demo's traffic, run inside the demo's namespaces:
//   node load.js sink ADDRESS        TCP sink on ADDRESS:5201, UDP echo on ADDRESS:7
//   node load.js run ADDRESS SECONDS UDP echo round trips, then a bulk TCP
//                                    send to ADDRESS:5201; JSON lines of progress
const dgram = require('node:dgram');
const net = require('node:net');

const [mode, address, secondsArg] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (mode === 'sink') {
  net
    .createServer((s) => {
      s.on('data', () => {});
      s.on('error', () => {});
    })
    .listen(5201, address);
  const echo = dgram.createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  echo.bind(7, address, () => say({ ready: true }));
} else if (mode === 'run') {
  const seconds = Number(secondsArg);
  (async () => {
    // Latency: 20 UDP round trips through the tunnel.
    const u = dgram.createSocket('udp4');
    await new Promise((r) => u.connect(7, address, r));
    const rtts = [];
    for (let i = 0; i < 20; i++) {
      const t0 = process.hrtime.bigint();
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no echo through the tunnel')), 2000);
        u.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
        u.send(Buffer.alloc(64));
      });
      rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    u.close();
    rtts.sort((a, b) => a - b);
    say({ latency: { minMs: rtts[0], medianMs: rtts[10], maxMs: rtts[19] } });

    // Throughput: a bulk TCP send for `seconds`.
    const sock = net.connect(5201, address);
    await new Promise((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    let sent = 0;
    const t0 = Date.now();
    const tick = setInterval(() => say({ progress: { bytes: sent, ms: Date.now() - t0 } }), 250);
    while (Date.now() - t0 < seconds * 1000) {
      if (!sock.write(chunk)) await new Promise((r) => sock.once('drain', r));
      sent += chunk.length;
    }
    clearInterval(tick);
    await new Promise((r) => sock.end(r));
    const cpu = process.cpuUsage();
    say({ done: { bytes: sent, ms: Date.now() - t0, cpu: (cpu.user + cpu.system) / 1e6 } });
  })().catch((err) => {
    say({ error: err.message });
    process.exit(1);
  });
}
