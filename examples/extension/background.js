/* global chrome */
// A VPN client as a Chrome extension writes it: callbacks,
// chrome.runtime.lastError, its settings in chrome.storage.local, packets
// over chrome.sockets.udp. It speaks examples/server.js's protocol: each IP
// packet in one UDP datagram behind a 4-byte header ("VP", version 1,
// type 0). It runs unchanged in ChromeOS and with
//   vpn-provider run-extension examples/extension
// Settings (change them with chrome.storage.local.set, or in the state
// directory's chrome/<id>/storage.json while it is stopped):
var DEFAULTS = {
  server: '192.0.2.2',
  port: 51820,
  address: '198.18.0.2/24',
  routes: ['198.18.0.0/24'],
  mtu: 1420, // + 4 + 48 bytes of header, UDP and IPv6: under 1500
  connects: 0,
};
var HEADER = [0x56, 0x50, 1, 0];

var settings = null;
var socketId = null;
var configId = null;

function log(what) {
  console.log(JSON.stringify(what));
}

chrome.runtime.onInstalled.addListener(function (details) {
  // First run: the configuration the user will connect.
  chrome.vpnProvider.createConfig('demo', function () {
    if (chrome.runtime.lastError) log({ createConfig: chrome.runtime.lastError.message });
    else log({ installed: details.reason, created: 'demo' });
  });
});

chrome.runtime.onStartup.addListener(function () {
  log({ startup: true });
});

chrome.storage.onChanged.addListener(function (changes, area) {
  if (area !== 'local') return;
  for (var key in changes) if (settings && key in DEFAULTS) settings[key] = changes[key].newValue;
});

function loadSettings(done) {
  chrome.storage.local.get(DEFAULTS, function (items) {
    if (chrome.runtime.lastError) {
      log({ storage: chrome.runtime.lastError.message });
      return;
    }
    settings = items;
    done();
  });
}

function fail(why) {
  log({ failed: why });
  chrome.vpnProvider.notifyConnectionStateChanged('failure', function () {
    if (chrome.runtime.lastError) log({ notify: chrome.runtime.lastError.message });
  });
}

function connect(id) {
  configId = id;
  chrome.sockets.udp.create({ name: 'tunnel' }, function (info) {
    socketId = info.socketId;
    chrome.sockets.udp.bind(socketId, '0.0.0.0', 0, function (result) {
      if (chrome.runtime.lastError || result < 0) {
        fail('bind: ' + result);
        return;
      }
      chrome.vpnProvider.setParameters(
        {
          address: settings.address,
          inclusionList: settings.routes,
          exclusionList: [settings.server + '/32'], // the tunnel's own datagrams go around it
          dnsServers: [],
          mtu: String(settings.mtu),
        },
        function () {
          if (chrome.runtime.lastError) {
            fail('setParameters: ' + chrome.runtime.lastError.message);
            return;
          }
          chrome.vpnProvider.notifyConnectionStateChanged('connected', function () {
            if (chrome.runtime.lastError) return fail(chrome.runtime.lastError.message);
            chrome.storage.local.set({ connects: settings.connects + 1 });
            log({ up: configId, server: settings.server + ':' + settings.port });
          });
        },
      );
    });
  });
}

function closeSocket() {
  if (socketId === null) return;
  chrome.sockets.udp.close(socketId, function () {
    if (chrome.runtime.lastError) log({ close: chrome.runtime.lastError.message });
  });
  socketId = null;
}

chrome.vpnProvider.onPlatformMessage.addListener(function (id, message, error) {
  if (message === 'connected') {
    loadSettings(function () {
      connect(id);
    });
  } else if (message === 'disconnected' || message === 'error') {
    log({ down: message, error: error });
    closeSocket();
  }
});

// Into the tunnel: the system's packets to the server, each behind the header.
chrome.vpnProvider.onPacketReceived.addListener(function (data) {
  if (socketId === null) return;
  var datagram = new Uint8Array(HEADER.length + data.byteLength);
  datagram.set(HEADER, 0);
  datagram.set(new Uint8Array(data), HEADER.length);
  chrome.sockets.udp.send(
    socketId,
    datagram.buffer,
    settings.server,
    settings.port,
    function (info) {
      if (chrome.runtime.lastError)
        log({ send: chrome.runtime.lastError.message, code: info.resultCode });
    },
  );
});

// Out of the tunnel: the server's datagrams, header checked and cut off.
chrome.sockets.udp.onReceive.addListener(function (info) {
  if (info.socketId !== socketId) return;
  var d = new Uint8Array(info.data);
  if (d.length < 24 || d[0] !== HEADER[0] || d[1] !== HEADER[1] || d[2] !== HEADER[2]) return;
  chrome.vpnProvider.sendPacket(info.data.slice(HEADER.length), function () {
    if (chrome.runtime.lastError) log({ sendPacket: chrome.runtime.lastError.message });
  });
});

chrome.sockets.udp.onReceiveError.addListener(function (info) {
  if (info.socketId === socketId) fail('receive: ' + info.resultCode);
});

chrome.vpnProvider.onConfigRemoved.addListener(function (id) {
  log({ removed: id });
});
