#include "udp/udp.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

namespace vpn::udp {

namespace {

// Messages one sendmmsg() call takes at most.
constexpr uint32_t kSendMessages = 64;
// Datagrams a received message may describe: the kernel's UDP_GRO_CNT_MAX
// is 64; room for twice that, so that a kernel that coalesces more is seen
// (and counted as truncated beyond it), never overrun.
constexpr uint32_t kGroRoom = 2 * kMaxSegments;
// Control room per received message: UDP_GRO (int), SO_RXQ_OVFL (u32).
constexpr size_t kRxControl = CMSG_SPACE(sizeof(int)) + CMSG_SPACE(4);
constexpr size_t kTxControl = CMSG_SPACE(sizeof(uint16_t));

bool IsV4Mapped(const uint8_t* a) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return memcmp(a, prefix, 12) == 0;
}

// Errors a network hands back about one destination: reported, never fatal.
bool NetworkError(int err) {
  switch (err) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case ECONNRESET:
    case EMSGSIZE:
    case EPERM:  // a firewall rule refused it
    case EACCES:
      return true;
    default:
      return false;
  }
}

int SetInt(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : -errno;
}

}  // namespace

void StorePeer(const Peer& p, uint8_t* rec) {
  memset(rec, 0, kPeerSize);
  rec[0] = p.family;
  memcpy(rec + 2, &p.port, 2);
  memcpy(rec + 4, p.addr, 16);
  memcpy(rec + 20, &p.scope, 4);
}

Peer LoadPeer(const uint8_t* rec) {
  Peer p;
  p.family = rec[0];
  memcpy(&p.port, rec + 2, 2);
  memcpy(p.addr, rec + 4, 16);
  memcpy(&p.scope, rec + 20, 4);
  return p;
}

bool ToSockaddr(const Peer& p, int sock_family, sockaddr_storage* out,
                socklen_t* len) {
  memset(out, 0, sizeof *out);
  if (p.family == 4 && sock_family == AF_INET) {
    auto* s = reinterpret_cast<sockaddr_in*>(out);
    s->sin_family = AF_INET;
    s->sin_port = htons(p.port);
    memcpy(&s->sin_addr, p.addr, 4);
    *len = sizeof *s;
    return true;
  }
  if ((p.family == 4 || p.family == 6) && sock_family == AF_INET6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(out);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(p.port);
    if (p.family == 4) {
      s->sin6_addr.s6_addr[10] = 0xff;
      s->sin6_addr.s6_addr[11] = 0xff;
      memcpy(s->sin6_addr.s6_addr + 12, p.addr, 4);
    } else {
      memcpy(s->sin6_addr.s6_addr, p.addr, 16);
      s->sin6_scope_id = p.scope;
    }
    *len = sizeof *s;
    return true;
  }
  return false;
}

Peer FromSockaddr(const sockaddr* sa, socklen_t len) {
  Peer p;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    auto* s = reinterpret_cast<const sockaddr_in*>(sa);
    p.family = 4;
    p.port = ntohs(s->sin_port);
    memcpy(p.addr, &s->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* s = reinterpret_cast<const sockaddr_in6*>(sa);
    p.port = ntohs(s->sin6_port);
    if (IsV4Mapped(s->sin6_addr.s6_addr)) {
      p.family = 4;
      memcpy(p.addr, s->sin6_addr.s6_addr + 12, 4);
    } else {
      p.family = 6;
      memcpy(p.addr, s->sin6_addr.s6_addr, 16);
      p.scope = s->sin6_scope_id;
    }
  }
  return p;
}

int Open(const OpenOptions& o, Opened* out, const char** syscall) {
  int family = o.family == AF_INET ? AF_INET : AF_INET6;
  *syscall = "socket";
  int fd =
      socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return -errno;
  auto fail = [&](const char* call, int err) {
    *syscall = call;
    ::close(fd);
    return err;
  };
  int r;
  if (family == AF_INET6 &&
      (r = SetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, o.v6only ? 1 : 0)) < 0)
    return fail("setsockopt(IPV6_V6ONLY)", r);
  if (o.reuse_port && (r = SetInt(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
    return fail("setsockopt(SO_REUSEPORT)", r);
  if (o.has_mark &&
      (r = SetInt(fd, SOL_SOCKET, SO_MARK, static_cast<int>(o.mark))) < 0)
    return fail("setsockopt(SO_MARK)", r);
  if (!o.device.empty() &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, o.device.c_str(),
                 static_cast<socklen_t>(o.device.size())) < 0)
    return fail("setsockopt(SO_BINDTODEVICE)", -errno);
  // Buffers: the FORCE variants go past rmem_max/wmem_max where we may
  // (CAP_NET_ADMIN); else the plain ones, capped by the kernel.
  if (o.recv_buffer > 0 &&
      SetInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, o.recv_buffer) < 0 &&
      (r = SetInt(fd, SOL_SOCKET, SO_RCVBUF, o.recv_buffer)) < 0)
    return fail("setsockopt(SO_RCVBUF)", r);
  if (o.send_buffer > 0 &&
      SetInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, o.send_buffer) < 0 &&
      (r = SetInt(fd, SOL_SOCKET, SO_SNDBUF, o.send_buffer)) < 0)
    return fail("setsockopt(SO_SNDBUF)", r);
  // ICMP errors into the error queue, with the destination they concern;
  // the kernel's drop count with each message. Both best effort.
  if (family == AF_INET6) SetInt(fd, IPPROTO_IPV6, IPV6_RECVERR, 1);
  SetInt(fd, IPPROTO_IP, IP_RECVERR, 1);
  SetInt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
  Features f;
  if (o.gro) f.gro = SetInt(fd, SOL_UDP, UDP_GRO, 1) == 0;
  if (o.gso) {
    int size = 0;
    socklen_t len = sizeof size;
    f.gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &size, &len) == 0;
  }
  sockaddr_storage sa;
  socklen_t salen = 0;
  Peer bind = o.bind;
  if (bind.family == 0) bind.family = family == AF_INET ? 4 : 6;
  if (!ToSockaddr(bind, family, &sa, &salen))
    return fail("bind", -EAFNOSUPPORT);
  if (bind.family == 4 && family == AF_INET6 && o.bind.family == 4 &&
      memcmp(bind.addr, "\0\0\0\0", 4) == 0) {
    // 0.0.0.0 on a dual-stack socket: the IPv6 wildcard takes both.
    memset(&reinterpret_cast<sockaddr_in6*>(&sa)->sin6_addr, 0, 16);
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), salen) < 0)
    return fail("bind", -errno);
  if (o.connect.family != 0) {
    if (!ToSockaddr(o.connect, family, &sa, &salen))
      return fail("connect", -EAFNOSUPPORT);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), salen) < 0)
      return fail("connect", -errno);
  }
  salen = sizeof sa;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &salen) < 0)
    return fail("getsockname", -errno);
  out->fd = fd;
  out->family = family;
  out->features = f;
  out->local = FromSockaddr(reinterpret_cast<sockaddr*>(&sa), salen);
  return 0;
}

Layout Layout::For(uint32_t messages, size_t max_datagram, bool gro) {
  Layout l;
  l.messages = messages;
  // A GRO message holds up to 64 KiB of datagrams; without GRO a slot
  // holds the largest datagram asked for, so that none is truncated.
  size_t slot = gro ? 65536 : max_datagram;
  l.slot = (slot + 7) & ~static_cast<size_t>(7);
  l.datagrams = messages * (gro ? kGroRoom : 1);
  return l;
}

const char* CheckDatagram(size_t len, bool v6, const char** code) {
  if (len > (v6 ? kMaxDatagram6 : kMaxDatagram4)) {
    *code = "ERR_DATAGRAM_TOO_LARGE";
    return v6 ? "Datagram too large: UDP over IPv6 carries at most 65527 "
                "bytes."
              : "Datagram too large: UDP over IPv4 carries at most 65507 "
                "bytes.";
  }
  return nullptr;
}

Socket::Socket(int fd, int family, const Features& features, uint8_t* base,
               const Layout& layout, uint64_t* counters)
    : fd_(fd),
      family_(family),
      features_(features),
      base_(base),
      layout_(layout),
      counters_(counters),
      rx_(layout.messages),
      rx_iov_(layout.messages),
      rx_names_(layout.messages),
      rx_control_(layout.messages * kRxControl),
      tx_(kSendMessages),
      tx_iov_(kSendMessages * kMaxSegments),
      tx_names_(kSendMessages),
      tx_control_(kSendMessages * kTxControl),
      tx_counts_(kSendMessages) {
  for (uint32_t i = 0; i < layout.messages; ++i) {
    rx_iov_[i] = {base_ + size_t{i} * layout.slot, layout.slot};
  }
}

Socket::~Socket() { Close(); }

void Socket::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

ReceiveResult Socket::Receive(Sink* sink) {
  ReceiveResult out;
  if (closed()) return out;
  const uint32_t m = layout_.messages;
  for (uint32_t i = 0; i < m; ++i) {
    msghdr& h = rx_[i].msg_hdr;
    h.msg_name = &rx_names_[i];
    h.msg_namelen = sizeof rx_names_[i];
    h.msg_iov = &rx_iov_[i];
    h.msg_iovlen = 1;
    h.msg_control = rx_control_.data() + i * kRxControl;
    h.msg_controllen = kRxControl;
    h.msg_flags = 0;
  }
  int n;
  do {
    n = recvmmsg(fd_, rx_.data(), m, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return out;
    if (NetworkError(err)) {
      // An ICMP error on a connected socket, returned once: the error
      // queue has its details. The socket goes on; more may be waiting.
      out.transient = err;
      out.more = true;
      return out;
    }
    counters_[kRxErrors] += 1;
    out.error = err;
    return out;
  }
  counters_[kRxCalls] += 1;
  int32_t* md = meta();
  uint8_t* peers = base_ + layout_.peers_at();
  uint32_t count = 0;
  uint64_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    const msghdr& h = rx_[i].msg_hdr;
    size_t len = rx_[i].msg_len;
    int gso = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c;
         c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        memcpy(&gso, CMSG_DATA(c), sizeof gso);
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t drops;
        memcpy(&drops, CMSG_DATA(c), 4);
        // Cumulative for the socket: count what is new.
        if (drops > kernel_drops_) {
          counters_[kRxKernelDrops] += drops - kernel_drops_;
          kernel_drops_ = drops;
        }
      }
    }
    uint32_t pieces =
        gso > 0 && static_cast<size_t>(gso) < len
            ? static_cast<uint32_t>((len + gso - 1) / static_cast<size_t>(gso))
            : 1;
    if ((h.msg_flags & MSG_TRUNC) || count + pieces > layout_.datagrams) {
      counters_[kRxTruncated] += 1;
      continue;
    }
    Peer p = FromSockaddr(reinterpret_cast<const sockaddr*>(h.msg_name),
                          h.msg_namelen);
    StorePeer(p, peers + kPeerSize * static_cast<size_t>(i));
    size_t base = static_cast<size_t>(i) * layout_.slot;
    size_t step = pieces > 1 ? static_cast<size_t>(gso) : len;
    for (uint32_t k = 0; k < pieces; ++k) {
      size_t off = k * step;
      size_t dlen = len - off < step ? len - off : step;
      md[3 * count] = static_cast<int32_t>(base + off);
      md[3 * count + 1] = static_cast<int32_t>(dlen);
      md[3 * count + 2] = i;
      ++count;
    }
    if (pieces > 1) counters_[kRxGro] += 1;
    bytes += len;
  }
  out.more = static_cast<uint32_t>(n) == m;
  if (count) {
    counters_[kRxDatagrams] += count;
    counters_[kRxBytes] += bytes;
    counters_[kRxBatches] += 1;
    if (!sink->Deliver(count) || closed()) out.stopped = true;
  }
  return out;
}

int Socket::DrainErrors(PeerError* out, int max) {
  int got = 0;
  while (got < max && !closed()) {
    sockaddr_storage name;
    uint8_t control[512];
    uint8_t data[1];
    iovec iov = {data, sizeof data};
    msghdr h = {};
    h.msg_name = &name;
    h.msg_namelen = sizeof name;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control;
    h.msg_controllen = sizeof control;
    ssize_t r = recvmsg(fd_, &h, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return got ? got : -errno;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
      bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
      if (!v4 && !v6) continue;
      sock_extended_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      PeerError e;
      e.error = static_cast<int>(ee.ee_errno);
      e.info = ee.ee_info;
      // msg_name: the destination of the datagram that caused it.
      e.peer = FromSockaddr(reinterpret_cast<sockaddr*>(&name), h.msg_namelen);
      out[got++] = e;
      counters_[kPeerErrors] += 1;
      break;
    }
  }
  return got;
}

int64_t Socket::Check(const Datagram* d, uint32_t n, const uint8_t* peers,
                      uint32_t npeers, const char** code,
                      const char** why) const {
  // Most batches go to one peer or a few in runs: each peer is checked
  // when it changes, not for every datagram.
  uint32_t checked = kConnected;
  bool v6 = family_ == AF_INET6;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t peer = d[i].peer;
    if (peer == kConnected) {
      v6 = family_ == AF_INET6;
    } else if (peer != checked) {
      if (peer >= npeers) {
        *code = "ERR_INVALID_ARG_VALUE";
        *why = "A datagram's peer is not in the peer table.";
        return i;
      }
      Peer p = LoadPeer(peers + kPeerSize * size_t{peer});
      if (p.family != 4 && p.family != 6) {
        *code = "ERR_INVALID_ARG_VALUE";
        *why = "A peer record holds no address.";
        return i;
      }
      if (p.family == 6 && family_ == AF_INET) {
        *code = "ERR_ADDRESS_FAMILY";
        *why = "An IPv6 peer cannot be reached from an IPv4 socket.";
        return i;
      }
      if (p.port == 0) {
        *code = "ERR_SOCKET_BAD_PORT";
        *why = "A peer's port must be from 1 to 65535.";
        return i;
      }
      v6 = p.family == 6;
      checked = peer;
    }
    if (d[i].len > kMaxDatagram4 && (*why = CheckDatagram(d[i].len, v6, code)))
      return i;
  }
  return -1;
}

int Socket::SendMessages(uint32_t count) {
  int n;
  do {
    n = sendmmsg(fd_, tx_.data(), count, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  counters_[kTxCalls] += 1;
  return n < 0 ? -errno : n;
}

SendResult Socket::Send(const Datagram* d, uint32_t n, const uint8_t* peers,
                        uint32_t npeers) {
  (void)npeers;  // Check() has vetted every index
  SendResult out;
  if (closed()) {
    out.error = EBADF;
    return out;
  }
  // A run's payload limit is its destination's: an IPv4 peer of a
  // dual-stack socket takes IPv4's (65507), or the kernel refuses the whole
  // run with EMSGSIZE. A connected peer's family is not looked up here:
  // IPv4's limit, 20 bytes less at worst.
  auto max_payload_to = [&](uint32_t peer) {
    if (family_ == AF_INET6 && peer != kConnected &&
        peers[kPeerSize * size_t{peer}] == 6)
      return kMaxDatagram6;
    return kMaxDatagram4;
  };
  uint32_t i = 0;
  bool plain_next = false;  // send the next message without UDP_SEGMENT
  uint32_t retried = n;     // the datagram sent again after ECONNREFUSED
  while (i < n) {
    // Plan up to kSendMessages messages: each a run of datagrams of one
    // size to one peer (the last may be shorter), or one datagram.
    uint32_t m = 0, j = i;
    iovec* iov = tx_iov_.data();  // kSendMessages * kMaxSegments of them
    size_t p = 0;
    while (j < n && m < kSendMessages) {
      const Datagram& first = d[j];
      uint32_t run = 1;
      size_t total = first.len;
      if (features_.gso && !plain_next && first.len > 0 &&
          first.len < gso_limit_) {
        const size_t max_payload = max_payload_to(first.peer);
        while (j + run < n && run < kMaxSegments &&
               d[j + run].peer == first.peer && d[j + run].len > 0 &&
               d[j + run].len <= first.len &&
               total + d[j + run].len <= max_payload) {
          total += d[j + run].len;
          ++run;
          if (d[j + run - 1].len < first.len) break;  // a short one ends it
        }
      }
      plain_next = false;
      msghdr& h = tx_[m].msg_hdr;
      h = msghdr{};
      // One iovec a datagram, or one for datagrams that lie end to end
      // (GRO runs echoed, frames of full-size segments): the kernel cuts
      // at the segment size whatever the iovecs, and fewer cost less.
      size_t first_iov = p;
      iov[p].iov_base = const_cast<uint8_t*>(first.data);
      iov[p++].iov_len = first.len;
      for (uint32_t k = 1; k < run; ++k) {
        const Datagram& x = d[j + k];
        iovec& last = iov[p - 1];
        if (static_cast<uint8_t*>(last.iov_base) + last.iov_len == x.data) {
          last.iov_len += x.len;
        } else {
          iov[p].iov_base = const_cast<uint8_t*>(x.data);
          iov[p++].iov_len = x.len;
        }
      }
      h.msg_iov = iov + first_iov;
      h.msg_iovlen = p - first_iov;
      if (first.peer != kConnected) {
        socklen_t len = 0;
        ToSockaddr(LoadPeer(peers + kPeerSize * size_t{first.peer}), family_,
                   &tx_names_[m], &len);
        h.msg_name = &tx_names_[m];
        h.msg_namelen = len;
      }
      if (run > 1) {
        uint8_t* ctl = tx_control_.data() + m * kTxControl;
        h.msg_control = ctl;
        h.msg_controllen = kTxControl;
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = static_cast<uint16_t>(first.len);
        memcpy(CMSG_DATA(c), &size, sizeof size);
      }
      tx_counts_[m] = run;
      ++m;
      j += run;
    }
    int sent = SendMessages(m);
    if (sent > 0) {
      uint64_t bytes = 0, datagrams = 0, gso = 0;
      for (int k = 0; k < sent; ++k) {
        for (uint32_t q = 0; q < tx_counts_[k]; ++q) bytes += d[i + q].len;
        datagrams += tx_counts_[k];
        gso += tx_counts_[k] > 1;
        i += tx_counts_[k];
      }
      counters_[kTxBytes] += bytes;
      counters_[kTxDatagrams] += datagrams;
      counters_[kTxGso] += gso;
      continue;  // the rest of the plan is planned again from i
    }
    int err = -sent;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      counters_[kTxEagain] += 1;
      out.error = EAGAIN;
      break;
    }
    if (tx_counts_[0] > 1 && (err == EIO || err == EINVAL || err == EMSGSIZE)) {
      // EIO: the device cannot checksum for UDP_SEGMENT (then never again,
      // as wireguard-go does); EINVAL / EMSGSIZE: a segment too big for the
      // route's MTU (then no runs of that size or more). Either way this run
      // goes as plain datagrams.
      if (err == EIO) features_.gso = false;
      if (err != EIO) gso_limit_ = d[i].len;
      plain_next = true;
      continue;
    }
    if (err == ECONNREFUSED && retried != i) {
      // An ICMP error about an earlier datagram, returned once by this
      // send (the error queue has it, reported from there): this one was
      // not sent, and goes again.
      retried = i;
      continue;
    }
    if (NetworkError(err)) {
      // About this destination only (an earlier ICMP error returned once,
      // no route, a firewall): reported, and the datagram is dropped; the
      // socket goes on with the rest.
      PeerError e;
      e.error = err;
      if (d[i].peer != kConnected)
        e.peer = LoadPeer(peers + kPeerSize * size_t{d[i].peer});
      send_errors_.push_back(e);
      *pending_errors() = static_cast<uint32_t>(send_errors_.size());
      counters_[kPeerErrors] += 1;
      counters_[kTxErrors] += tx_counts_[0];
      i += tx_counts_[0];
      continue;
    }
    counters_[kTxErrors] += 1;
    out.error = err;
    break;
  }
  out.taken = i;
  return out;
}

}  // namespace vpn::udp
