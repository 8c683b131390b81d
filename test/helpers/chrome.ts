// The parameters of Chrome's VpnSuccess test (vpn_provider/basic.js), as written.
export const CHROME_PARAMETERS = {
  address: '10.10.10.10/24',
  exclusionList: ['63.145.213.129/32', '63.145.212.0/24'],
  inclusionList: ['0.0.0.0/0', '63.145.212.128/25'],
  mtu: '1600',
  broadcastAddress: '10.10.10.255',
  domainSearch: ['foo', 'bar'],
  dnsServers: ['8.8.8.8'],
  reconnect: 'false',
};
