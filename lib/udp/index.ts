export { UdpSocket } from './socket';
export type {
  UdpSocketOptions,
  UdpOffloads,
  UdpPeerError,
  UdpCounters,
  SendTarget,
  SendFromOptions,
} from './socket';
export { DatagramBatch } from './batch';
export { UdpPeer, PeerTable } from './peer';
