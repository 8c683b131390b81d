// A batched UDP socket, without N-API: the other half of a VPN's packet
// path. The binding (native/binding/udp_binding.cc) converts arguments and
// wakes JS; the C++ tests drive this over loopback.
//
// Receive: Receive() takes one recvmmsg() of up to `messages` messages into
// fixed slots of one block (the binding's ArrayBuffer, which JS reads
// datagrams from). With UDP_GRO the kernel hands over a run of same-size
// datagrams from one sender as one message (up to 64 of them, the last may
// be shorter) with their size in a control message; each run is described
// here as its datagrams: meta gets (offset, length, peer) per datagram,
// zero-copy views into the slot, and the peers area a record of each
// message's sender. The sink gets the batch in one call.
//
// Send: Send() writes datagrams in order, each to its peer (or to the
// connected one), straight from the caller's memory: consecutive datagrams
// of one size to one peer go as one message with UDP_SEGMENT (up to 64
// segments and 64 KiB; the last may be shorter), the messages of a call go
// in one sendmmsg(). A datagram is never truncated or reordered; EAGAIN
// stops the round where it is (the caller waits for POLLOUT and goes on).
//
// Errors from the network (ICMP port or host unreachable, learnt through
// IP_RECVERR) never stop the socket: DrainErrors() reads them from the error
// queue, with the destination they concern, for the binding to report.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vpn::udp {

// The largest UDP payload over IPv4 and IPv6.
constexpr size_t kMaxDatagram4 = 65507;
constexpr size_t kMaxDatagram6 = 65527;
// Most datagrams a GRO message or a UDP_SEGMENT send carries (the kernel's
// UDP_GRO_CNT_MAX / UDP_MAX_SEGMENTS).
constexpr uint32_t kMaxSegments = 64;

// A peer record, as JS sees it (24 bytes): family (4 or 6) at [0], port
// (host order u16) at [2], address (network order; IPv4 in the first 4
// bytes) at [4..20), IPv6 scope id (host order u32) at [20].
constexpr size_t kPeerSize = 24;
struct Peer {
  uint8_t family = 0;  // 0: none
  uint16_t port = 0;
  uint8_t addr[16] = {};
  uint32_t scope = 0;
};
void StorePeer(const Peer& p, uint8_t* rec);
Peer LoadPeer(const uint8_t* rec);
// To a sockaddr for a socket of `sock_family` (AF_INET or AF_INET6: an
// IPv4 peer on a dual-stack socket is v4-mapped). False if it cannot be
// reached from such a socket (IPv6 from an AF_INET one).
bool ToSockaddr(const Peer& p, int sock_family, sockaddr_storage* out,
                socklen_t* len);
// From a sockaddr (a v4-mapped IPv6 address comes back as IPv4).
Peer FromSockaddr(const sockaddr* sa, socklen_t len);

// What a socket can do, as probed at open.
struct Features {
  bool gro = false;  // UDP_GRO on: receives runs as one message
  bool gso = false;  // UDP_SEGMENT accepted
};

struct OpenOptions {
  int family = AF_INET6;  // AF_INET6 is dual-stack unless v6only
  bool v6only = false;
  Peer bind;                // family 0: the wildcard address, port 0
  Peer connect;             // family 0: not connected
  bool reuse_port = false;  // SO_REUSEPORT: one socket per worker
  bool has_mark = false;
  uint32_t mark = 0;    // SO_MARK (routing around a tunnel)
  std::string device;   // SO_BINDTODEVICE
  int recv_buffer = 0;  // SO_RCVBUF(FORCE); 0: the kernel's default
  int send_buffer = 0;  // SO_SNDBUF(FORCE)
  bool gro = true;      // ask for UDP_GRO
  bool gso = true;      // use UDP_SEGMENT where the kernel has it
};

struct Opened {
  int fd = -1;
  int family = 0;
  Features features;
  Peer local;  // the bound address and port
};

// Opens a non-blocking, close-on-exec UDP socket, sets it up and binds it
// (and connects it). Returns 0, or -errno with *syscall naming the call.
int Open(const OpenOptions& options, Opened* out, const char** syscall);

// The counters, in the order lib/native.ts's UDP_COUNTER_NAMES lists them.
enum Counter {
  kRxDatagrams,
  kRxBytes,
  kRxBatches,      // deliveries to the sink
  kRxCalls,        // recvmmsg() calls that returned messages
  kRxGro,          // messages that carried more than one datagram
  kRxTruncated,    // messages dropped: longer than their slot
  kRxKernelDrops,  // the kernel's count of datagrams its queue dropped
  kTxDatagrams,
  kTxBytes,
  kTxCalls,  // sendmmsg() / sendmsg() calls
  kTxGso,    // messages sent with UDP_SEGMENT (more than one datagram)
  kTxEagain,
  kRxErrors,
  kTxErrors,
  kPeerErrors,  // ICMP errors reported (the socket goes on)
  kCounterCount
};

// A socket's receive memory, one block: `messages` slots of `slot` bytes,
// then meta (3 int32 a datagram: offset, length, peer = message index),
// then the peers area (kPeerSize a message), then a word of state. Offsets
// are from the start.
struct Layout {
  uint32_t messages = 0;
  size_t slot = 0;
  uint32_t datagrams = 0;  // messages * (gro ? kMaxSegments : 1)

  size_t meta_at() const { return size_t{messages} * slot; }
  size_t peers_at() const { return meta_at() + 12 * size_t{datagrams}; }
  // One uint32: how many send errors wait for TakeSendErrors (so that JS
  // learns it without a call).
  size_t state_at() const { return peers_at() + kPeerSize * size_t{messages}; }
  size_t total() const { return state_at() + 8; }
  static Layout For(uint32_t messages, size_t max_datagram, bool gro);
};

class Sink {
 public:
  virtual ~Sink() = default;
  // count datagrams described by meta. False stops the round (the socket
  // was closed, or its memory taken away, during the call).
  virtual bool Deliver(uint32_t count) = 0;
};

struct ReceiveResult {
  bool more = false;     // every slot was used: more may be waiting
  bool stopped = false;  // the sink stopped the round
  int error = 0;         // a fatal errno (not one of the network's)
  int transient = 0;     // a network error the call returned (reported)
};

// One datagram to send: its bytes and the index of its peer in the table
// given to Send (kConnected: the connected peer).
struct Datagram {
  const uint8_t* data;
  size_t len;
  uint32_t peer;
};
constexpr uint32_t kConnected = 0xffffffff;

struct SendResult {
  uint32_t taken = 0;  // datagrams sent (or dropped with a reported error)
  int error = 0;       // 0, EAGAIN (stopped: go on from taken), or an errno
                       // for the datagram at `taken`
};

// An error the network reported about a datagram we sent.
struct PeerError {
  int error = 0;      // ECONNREFUSED, EHOSTUNREACH, EMSGSIZE...
  Peer peer;          // the destination it concerns (family 0: unknown)
  uint32_t info = 0;  // EMSGSIZE: the path MTU the kernel learnt
};

// Checks a datagram before it is sent: nullptr or why not (*code set).
const char* CheckDatagram(size_t len, bool v6, const char** code);

class Socket {
 public:
  // fd: open (Open()), owned from now on. base: layout.total() bytes, 8-byte
  // aligned, valid until Close(). counters: kCounterCount of them.
  Socket(int fd, int family, const Features& features, uint8_t* base,
         const Layout& layout, uint64_t* counters);
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  void Close();
  bool closed() const { return fd_ < 0; }
  int fd() const { return fd_; }
  int family() const { return family_; }
  const Features& features() const { return features_; }
  const Layout& layout() const { return layout_; }

  ReceiveResult Receive(Sink* sink);

  // Reads the error queue (after POLLERR): each error to out (at most
  // max); returns how many, or -errno.
  int DrainErrors(PeerError* out, int max);

  // Checks every datagram and its peer before anything is sent: -1, or the
  // index of the first bad one with *code and *why.
  int64_t Check(const Datagram* d, uint32_t n, const uint8_t* peers,
                uint32_t npeers, const char** code, const char** why) const;

  // Sends checked datagrams in order (see the top of this file). peers: a
  // table of npeers records.
  SendResult Send(const Datagram* d, uint32_t n, const uint8_t* peers,
                  uint32_t npeers);

  // Errors about one destination that Send() met and went on after (no
  // route, a firewall, an earlier ICMP error returned once): the caller
  // reports them. Cleared by the call.
  std::vector<PeerError> TakeSendErrors() {
    *pending_errors() = 0;
    return std::move(send_errors_);
  }

 private:
  // Sends msgs [0, count) with sendmmsg; returns how many went, or -errno.
  int SendMessages(uint32_t count);
  int32_t* meta() const {
    return reinterpret_cast<int32_t*>(base_ + layout_.meta_at());
  }
  uint32_t* pending_errors() const {
    return reinterpret_cast<uint32_t*>(base_ + layout_.state_at());
  }

  int fd_;
  int family_;
  Features features_;
  uint8_t* base_;
  Layout layout_;
  uint64_t* counters_;
  uint32_t kernel_drops_ = 0;
  size_t gso_limit_ = SIZE_MAX;  // runs of datagrams this size or more go plain
  // Receive: headers, their iovecs, names and control buffers.
  std::vector<mmsghdr> rx_;
  std::vector<iovec> rx_iov_;
  std::vector<sockaddr_storage> rx_names_;
  std::vector<uint8_t> rx_control_;
  // Send: headers of one call, the iovecs, peers' sockaddrs, control.
  std::vector<mmsghdr> tx_;
  std::vector<iovec> tx_iov_;
  std::vector<sockaddr_storage> tx_names_;
  std::vector<uint8_t> tx_control_;
  std::vector<uint32_t> tx_counts_;  // datagrams in each message
  std::vector<PeerError> send_errors_;
};

}  // namespace vpn::udp
