'use strict';
// Drains a paused device's kernel queue: bytes and packets received until
// it has been quiet for 100 ms, timed from the first listener to the last
// batch. Shared by trial.js and mq-worker.js.
function drain(dev, mode) {
  return new Promise((resolve) => {
    let bytes = 0;
    let packets = 0;
    let last = 0;
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    dev.onPacketsReceived.addListener((batch) => {
      for (let i = 0; i < batch.count; i++) bytes += batch.length(i);
      packets += batch.count;
      last = Number(process.hrtime.bigint() - t0) / 1e9;
    });
    const check = setInterval(() => {
      if (last > 0 && Number(process.hrtime.bigint() - t0) / 1e9 - last > 0.1) {
        clearInterval(check);
        const c = process.cpuUsage(cpu0);
        resolve({ mode, bytes, packets, seconds: last, cpu: (c.user + c.system) / 1e6 });
      }
    }, 10);
  });
}

module.exports = { drain };
