'use strict';
// A worker of the mq-drain trial: one queue of a multi-queue device, its own
// reader and batches on this thread's loop. Says "ready", drains on "go".
const path = require('node:path');
const { parentPort, workerData } = require('node:worker_threads');
const { pkg } = require('../common');
const { TunDevice } = require(path.join(pkg, 'dist'));
const { drain } = require('./drain');

(async () => {
  const { name, first, txQueueLen } = workerData;
  const dev = first
    ? await TunDevice.open({
        name,
        multiQueue: true,
        offload: false,
        addresses: ['198.18.0.1/24'],
        txQueueLen,
      })
    : await TunDevice.attachQueue(name, { offload: false });
  parentPort.once('message', async () => {
    parentPort.postMessage(await drain(dev, 'queue'));
  });
  parentPort.postMessage('ready');
})();
